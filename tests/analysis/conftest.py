"""Fixtures for the analysis tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smartthumb.config import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture(autouse=True)
def _repo_models() -> Iterator[None]:
    """Tests use the repository's models unless a test points elsewhere."""
    from smartthumb.analysis import models

    models.configure(Settings())
    yield
    models.configure(Settings())

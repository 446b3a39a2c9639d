"""Fixtures for the analysis tests."""

from __future__ import annotations

import pytest

from smartthumb.config import Settings


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture(autouse=True)
def _repo_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests use the repository's models unless a test points elsewhere."""
    monkeypatch.delenv("SMARTTHUMB_MODELS_DIR", raising=False)

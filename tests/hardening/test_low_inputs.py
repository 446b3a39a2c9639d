"""Low-severity inputs that used to be 500s or served by accident: now 4xx."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from smartthumb.errors import InvalidParameter, SourceNotFound
from smartthumb.request import validate_id
from smartthumb.sources import LocalFolderSource
from tests.conftest import image_bytes


@pytest.mark.parametrize("image_id", ["x.jpg/", "a/b.jpg/", "a//b.jpg"])
def test_ids_with_empty_segments_are_400(image_id: str) -> None:
    with pytest.raises(InvalidParameter):
        validate_id(image_id)


@pytest.fixture
def store(tmp_path):
    (tmp_path / "x.jpg").write_bytes(image_bytes(Image.new("RGB", (8, 8))))
    os.symlink(tmp_path / "loop-b", tmp_path / "loop-a")
    os.symlink(tmp_path / "loop-a", tmp_path / "loop-b")
    return LocalFolderSource(tmp_path, 1024 * 1024)


@pytest.mark.parametrize("image_id", ["loop-a", "loop-a/x.jpg", "a" * 300 + ".jpg", "d/" + "b" * 256 + "/x.jpg"])
def test_symlink_loops_and_overlong_segments_are_404(store, image_id: str) -> None:
    validate_id(image_id)  # well-formed ids: the store is what cannot answer them
    with pytest.raises(SourceNotFound):
        store.get(image_id)


def test_the_store_still_serves_its_file(store) -> None:
    assert store.get("x.jpg").data[:2] == b"\xff\xd8"


def test_through_th_they_are_4xx(make_fn) -> None:
    fn = make_fn()
    assert fn.get("/th?id=photo.jpg/&w=50")["statusCode"] == 400
    assert fn.get("/th?id=photo.jpg&w=50")["statusCode"] == 200

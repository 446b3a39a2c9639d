"""Every hostile or awkward source through ``GET /th``: a correct image or the named 4xx, never a 500."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageOps

from tests.hardening.conftest import BUCKET, PREFIX, body_image, error_of, shared_function
from tests.hardening.corpus import HARDENING_ENV, Case, corpus, oriented_jpeg, quadrant_image

CASES = {c.name: c for c in corpus()}

LEAKS = (BUCKET, PREFIX, "Traceback", "/work/", ".py", "site-packages", "PIL", "botocore")


@pytest.fixture(scope="module")
def fn():
    with shared_function(**HARDENING_ENV) as shared:
        yield shared


def _close(actual: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual[:3], expected, strict=True))


def check_answer(c: Case, result: dict) -> None:
    assert result["statusCode"] == c.status, (c.name, result.get("body", "")[:300])
    if c.status != 200:
        err = error_of(result)
        assert err["code"] == c.code, c.name
        assert err["message"]
        for leak in LEAKS:
            assert leak not in result["body"], (c.name, leak)
        return
    im = body_image(result)
    assert im.size == c.size, c.name
    rgba = im.convert("RGBA")
    for x, y, colour in c.markers:
        assert _close(rgba.getpixel((x, y)), colour), (c.name, (x, y), rgba.getpixel((x, y)), colour)
    for x, y in c.transparent:
        assert im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info, c.name
        assert rgba.getpixel((x, y))[3] == 0, (c.name, (x, y))


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_source_through_th(fn, name: str) -> None:
    c = CASES[name]
    fn.put(c.name, c.data)
    # No clock here: the bombs that would cost minutes (scan bomb, pixel and frame
    # bombs) are refused with their 413 before decoding, which the case's status checks.
    check_answer(c, fn.get(f"/th?id={c.name}&{c.query}"))


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.status == 200])
@pytest.mark.parametrize(
    "query",
    ["w=300&h=300", "w=30&h=50&c=4", pytest.param("w=40&h=40&c=7", marks=pytest.mark.model)],  # c=7 runs the models
)
def test_renderable_sources_in_every_output_format(fn, name: str, query: str) -> None:
    fn.put(name, CASES[name].data)
    for accept in ("*/*", "image/webp,*/*"):
        result = fn.get(f"/th?id={name}&{query}", {"accept": accept})
        assert result["statusCode"] == 200, (name, query, result["body"][:200])
        body_image(result)  # decodes completely


def test_orientation_corpus_is_what_it_claims() -> None:
    """The generator itself: Pillow's reference transpose turns each file upright."""
    upright = quadrant_image()
    for orientation in range(1, 9):
        with Image.open(io.BytesIO(oriented_jpeg(orientation))) as im:
            assert im.getexif()[0x0112] == orientation
            fixed = ImageOps.exif_transpose(im)
        assert fixed.size == upright.size
        assert _close(fixed.getpixel((5, 5)), (255, 0, 0))
        assert _close(fixed.getpixel((75, 55)), (0, 0, 255))

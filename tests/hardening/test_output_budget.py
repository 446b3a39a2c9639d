"""Output-size retries are predicted before they are paid for, and counted against the deadline."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image

from smartthumb.errors import OutputTooLarge, TimeBudgetExceeded
from smartthumb.limits import Deadline
from smartthumb.render import encode

CAP = 4_300_000


@pytest.fixture(scope="module")
def noise() -> Image.Image:
    return Image.merge("RGB", [Image.effect_noise((4096, 4096), 90 + 10 * k) for k in range(3)])


@pytest.fixture
def full_saves(monkeypatch):
    """Sizes of the images Pillow is asked to save."""
    sizes: list[tuple[int, int]] = []
    original = Image.Image.save

    def counting(self, fp, format=None, **params):
        sizes.append(self.size)
        return original(self, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", counting)
    return sizes


def test_a_hopeless_webp_is_413_without_a_full_size_encode(noise, full_saves) -> None:
    with pytest.raises(OutputTooLarge):
        encode(noise, "WEBP", 85, None, CAP)
    assert (4096, 4096) not in full_saves
    assert full_saves  # the mosaic was encoded


def test_a_feasible_output_is_encoded_once(full_saves) -> None:
    flat = Image.new("RGB", (2048, 2048), (30, 120, 200))
    body = encode(flat, "WEBP", 85, None, CAP)
    assert Image.open(io.BytesIO(body)).size == (2048, 2048)
    assert full_saves.count((2048, 2048)) == 1


def test_a_retry_that_fits_is_still_found(noise) -> None:
    """Noise at 1024x2048 misses the cap at q=85 as JPEG but fits lower: the prediction keeps that attempt."""
    part = noise.crop((0, 0, 2048, 2048))
    body = encode(part, "JPEG", 95, None, 2_000_000)
    assert len(body) <= 2_000_000


def test_each_full_encode_is_required_of_the_deadline(full_saves) -> None:
    image = Image.new("RGB", (2048, 2048), (30, 120, 200))
    ticks = itertools.count(0.0, 0.010)  # every clock reading 10 ms later: the mosaic "took" 10 ms
    deadline = Deadline(100, clock=lambda: 0.0)  # 100 ms left, frozen
    with pytest.raises(TimeBudgetExceeded):  # 10 ms x 16 (pixels ratio) = 160 ms predicted > 100 ms left
        encode(image, "PNG", 85, None, CAP, deadline=deadline, clock=lambda: next(ticks))
    assert (2048, 2048) not in full_saves
    ticks = itertools.count(0.0, 0.001)  # 16 ms predicted: fits
    encode(image, "PNG", 85, None, CAP, deadline=deadline, clock=lambda: next(ticks))
    assert (2048, 2048) in full_saves

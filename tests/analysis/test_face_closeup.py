"""The close-up pass (analysis/face_closeup.py): a large face the first pass could not confirm,
looked at again at half the size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smartthumb.analysis import face_closeup, faces

BENCH_IMAGES = Path(__file__).resolve().parents[1] / "bench" / "crops" / "images"


def _analysis_image(name: str) -> np.ndarray:
    """A benchmark photo as the analysis sees it (decoded, long side <= 640)."""
    from smartthumb.analysis.analyzer import decode_for_analysis
    from smartthumb.config import Settings

    return decode_for_analysis((BENCH_IMAGES / name).read_bytes(), Settings()).rgb


def _row(x: float, y: float, w: float, h: float, score: float) -> np.ndarray:
    """A candidate row: box, score, and five landmarks on the box's centre."""
    return np.array([x, y, w, h, score] + [x + w / 2, y + h / 2] * 5, dtype=np.float32)


def test_the_shrunk_picture_keeps_its_size_and_repeats_its_edges() -> None:
    rgb = np.zeros((100, 200, 3), dtype=np.uint8)
    rgb[:, :100] = (200, 10, 10)  # red left half, black right half
    image, dx, dy = face_closeup.shrunk(rgb)
    assert image.shape == rgb.shape and (dx, dy) == (50, 25)
    assert tuple(image[50, 0]) == (200, 10, 10) and tuple(image[50, 199]) == (0, 0, 0)  # edges run outward
    assert tuple(image[0, 60]) == tuple(image[dy, 60])  # the top edge repeated upward


def test_only_tall_candidates_no_kept_face_covers_are_looked_at_again() -> None:
    rows = np.stack([_row(0, 0, 300, 300, 0.7), _row(10, 10, 40, 40, 0.7), _row(320, 0, 280, 280, 0.6)])
    kept = [(330.0, 5.0, 270.0, 270.0)]  # the third is already a face
    big = face_closeup.large_uncovered(rows, kept, short_side=400)
    assert big.shape == (1, 15) and tuple(big[0, :4]) == (0, 0, 300, 300)
    assert face_closeup.large_uncovered(rows[:0], [], 400).shape == (0, 15)


def test_a_confirming_face_is_mapped_back_to_the_picture() -> None:
    rgb = np.zeros((400, 600, 3), dtype=np.uint8)
    candidate = _row(100, 20, 400, 380, 0.7)[None]
    seen = []

    def run(image: np.ndarray) -> np.ndarray:
        seen.append(image.shape)
        # On the canvas the half-size picture sits at (150, 100): its (100, 20, 400, 380) is (200, 110, 200, 190).
        return np.stack([_row(200, 110, 200, 190, 0.93), _row(200, 110, 200, 190, 0.89), _row(0, 0, 20, 20, 0.95)])

    got = face_closeup.confirmed_closeups(run, rgb, candidate)
    assert seen == [rgb.shape]
    assert got.shape == (1, 15)  # the 0.89 one is under CLOSEUP_CONFIRM, the small one matches no candidate
    assert np.allclose(got[0, :5], [100, 20, 400, 380, 0.93])
    assert np.allclose(got[0, 5:7], [300, 210])  # landmarks mapped the same way
    assert face_closeup.confirmed_closeups(run, rgb, candidate[:0]).shape == (0, 15)
    assert len(seen) == 1  # no candidate: no second run


@pytest.mark.model
def test_a_face_filling_the_frame_is_found(monkeypatch) -> None:
    """thumbor's ``redeye.png`` (eyes to mouth fill the frame, forehead and chin outside it): the first
    pass scores it 0.73 and the skin check refuses it; at half the size it scores 0.9 or more."""
    rgb = _analysis_image("th-redeye.jpg")
    height, width = rgb.shape[:2]
    (face,) = faces.detect_faces(rgb)
    assert face.score >= face_closeup.CLOSEUP_CONFIRM
    assert face.w >= 0.8 * width and face.h >= 0.8 * height
    monkeypatch.setattr(face_closeup, "CLOSEUP_FACE", 10.0)  # no candidate is that tall: the pass is off
    assert faces.detect_faces(rgb) == []


@pytest.mark.model
@pytest.mark.parametrize("name", ["alpaca.jpg", "cheetah-head.jpg", "lion.jpg", "koala.jpg", "red-panda.jpg"])
def test_animals_the_shrunk_pass_sees_as_faces_stay_without_one(name: str) -> None:
    """Photos whose first pass or shrunk pass had a face-like candidate (0.58-0.76) on the benchmark."""
    rgb = _analysis_image(name)
    assert faces.detect_faces(rgb) == []


def test_a_confirmed_close_up_outlives_the_upsampled_pass(monkeypatch) -> None:
    """A picture with a small person (so the 1.5x pass runs) and a close-up the shrunk look confirms:
    the close-up is still a face after that pass's NMS and confirmation."""
    from smartthumb.analysis import models
    from tests.analysis.test_face_confirm import SKIN, STEEL
    from tests.analysis.test_face_crowd import _Fake

    rgb = np.full((427, 640, 3), STEEL, dtype=np.uint8)
    rgb[40:120, 40:120] = SKIN  # the small person's face: centre (80, 80), 40 px
    # First run: the person (stride-32 cell row 2, column 2) and a 300 px candidate at 0.7 on no skin.
    fake = _Fake(lambda run: [(2, 2, 40, 0.9), (7, 10, 300, 0.7)] if run == 1 else [])
    monkeypatch.setattr(models, "get_session", lambda model, side=None: fake)
    closeup = _row(186, 90, 300, 300, 0.92)[None]
    monkeypatch.setattr(face_closeup, "confirmed_closeups", lambda run, image, big: closeup if len(big) else big)
    found = faces.detect_faces(rgb)
    assert fake.runs > 2  # the upsampled pass ran
    assert sorted((round(f.x), round(f.y), round(f.w), round(f.score, 2)) for f in found) == [
        (60, 60, 40, 0.9),
        (186, 90, 300, 0.92),
    ]

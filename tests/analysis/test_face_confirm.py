"""The second signal that must confirm a low-scoring face candidate (skin chroma)."""

from __future__ import annotations

import numpy as np

from smartthumb.analysis import faces

SKIN = (205, 150, 125)  # a light skin tone: Cr ~ 150, Cb ~ 110
STEEL = (150, 160, 175)  # a grey-blue like a lens or chrome


def candidate(score: float) -> faces.RawFace:
    return faces.RawFace(20.0, 20.0, 40.0, 40.0, score, ((0.0, 0.0),) * 5)


def scene(face_colour: tuple[int, int, int], rest: tuple[int, int, int] = (40, 120, 60)) -> np.ndarray:
    rgb = np.empty((100, 100, 3), dtype=np.uint8)
    rgb[:] = rest
    rgb[20:60, 20:60] = face_colour
    return rgb


def test_low_score_on_skin_is_kept() -> None:
    assert faces.confirmed(scene(SKIN), [candidate(0.55)]) == [candidate(0.55)]


def test_low_score_without_skin_is_dropped() -> None:
    assert faces.confirmed(scene(STEEL), [candidate(0.55)]) == []


def test_high_score_needs_no_confirmation() -> None:
    assert faces.confirmed(scene(STEEL), [candidate(faces.CONFIRM_SCORE)]) == [candidate(faces.CONFIRM_SCORE)]


def test_grayscale_images_keep_the_score_alone() -> None:
    gray = scene((128, 128, 128), rest=(30, 30, 30))
    assert faces.is_grayscale(gray)
    assert not faces.is_grayscale(scene(SKIN))
    assert faces.confirmed(gray, [candidate(0.55)]) == [candidate(0.55)]


def test_skin_fraction_reads_the_middle_of_the_box() -> None:
    rgb = scene(STEEL)
    rgb[30:54, 28:52] = SKIN  # x 20-80 %, y 25-85 % of the 40 px box at (20, 20)
    assert faces.skin_fraction(rgb, 20, 20, 40, 40) == 1.0
    assert faces.skin_fraction(scene(STEEL), 20, 20, 40, 40) == 0.0

"""The second signal that must confirm a low-scoring face candidate (skin chroma)."""

from __future__ import annotations

import numpy as np

from smartthumb.analysis import faces
from tests.analysis.test_faces import empty_outputs, output_specs

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


class _FakeYuNet:
    """Outputs with one confident face at the middle of the 640 input (stride 32), counting runs."""

    def __init__(self, score: float, side: int, every_run: bool = False) -> None:
        self.score, self.side, self.runs, self.every_run = score, side, 0, every_run

    def get_outputs(self) -> list:
        return output_specs()

    def run(self, names: list[str], feeds: dict) -> list[np.ndarray]:
        self.runs += 1
        out = empty_outputs()
        # The first pass (or every tile too): a side x side face centred at (80, 80) of the input.
        if self.runs == 1 or self.every_run:
            cell = 2 * 20 + 2
            out["cls_32"][0, cell] = out["obj_32"][0, cell] = self.score
            out["bbox_32"][0, cell] = [0.5, 0.5, np.log(self.side / 32), np.log(self.side / 32)]
        return [out[n] for n in names]


def _detect(
    monkeypatch, rgb: np.ndarray, score: float, side: int = 32, every_run: bool = False
) -> tuple[list[faces.RawFace], int]:
    from smartthumb.analysis import models

    fake = _FakeYuNet(score, side, every_run)
    monkeypatch.setattr(models, "get_session", lambda model, side=None: fake)
    return faces.detect_faces(rgb), fake.runs


def test_the_upsampled_pass_runs_only_after_a_person(monkeypatch) -> None:
    """A person with a small face (32 px of a 640 x 427 image): the second pass runs, in 2 tiles."""
    rgb = np.full((427, 640, 3), STEEL, dtype=np.uint8)
    rgb[30:130, 30:130] = SKIN  # the face box is x, y 64-96 (or 48-112 for 64 px)
    found, runs = _detect(monkeypatch, rgb, 0.9)
    assert len(found) == 1 and runs == 1 + len(faces.tiles(960, 640)) == 3
    # A face at the detector's floor (8 px < TINY_FACE): the pass upsamples 2x instead, in 6 tiles.
    found, runs = _detect(monkeypatch, rgb, 0.9, side=8)
    assert len(found) == 1 and runs == 1 + len(faces.tiles(1280, 854)) == 7
    # A close-up (64 px is 15 % of the short side): no second pass.
    found, runs = _detect(monkeypatch, rgb, 0.9, side=64)
    assert len(found) == 1 and runs == 1
    # No face at all in the first pass (an animal, a product): one pass only.
    found, runs = _detect(monkeypatch, rgb, 0.0)
    assert found == [] and runs == 1


def test_without_a_person_only_skin_confirmed_upsampled_faces_count(monkeypatch) -> None:
    """A confident candidate without skin (a headlight) is no person: the second pass runs, but its
    confident candidates (one per tile here) must have skin themselves; on skin (a crowd) they count."""
    steel = np.full((427, 640, 3), STEEL, dtype=np.uint8)
    found, runs = _detect(monkeypatch, steel, 0.9, every_run=True)
    assert len(found) == 1 and runs == 3
    # ... unless that face is a close-up's (64 px, 15 % of the short side): no small faces beside it.
    found, runs = _detect(monkeypatch, steel, 0.9, side=64, every_run=True)
    assert len(found) == 1 and runs == 1
    skin = np.full((427, 640, 3), SKIN, dtype=np.uint8)
    found, runs = _detect(monkeypatch, skin, 0.9, every_run=True)
    assert len(found) > 1 and runs == 3


def test_tiles_cover_the_image() -> None:
    for width, height in ((1280, 854), (640, 640), (700, 1300), (100, 50)):
        covered = np.zeros((height, width), dtype=bool)
        for x, y in faces.tiles(width, height):
            covered[y : y + faces.SIDE, x : x + faces.SIDE] = True
        assert covered.all()

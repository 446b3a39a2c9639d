"""The crowd pass: a 3x tiled pass after a first pass with several faces at the detector's floor."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from smartthumb.analysis import face_blaze, faces
from tests.analysis.test_face_confirm import SKIN
from tests.analysis.test_faces import empty_outputs, output_specs

#: Three 8 px faces in the first pass (stride-32 cells in row 2, columns 2, 5, 8: centres x 80, 176, 272, y 80).
CROWD = ((2, 2), (2, 5), (2, 8))
#: The 2x pass of a 640 x 427 image: 6 tiles; the crowd pass covers x 12-341, y 12-149 (the faces, 64 px around):
#: 987 x 411 at 3x, 2 tiles (x 0 and 347).
SECOND_PASS = len(faces.tiles(1280, 854))
CROWD_PASS = len(faces.tiles(987, 411))


class _Fake:
    """YuNet outputs decided per run: ``faces_for(run)`` gives (row, column, side, score) faces (stride 32)."""

    def __init__(self, faces_for: Callable[[int], list[tuple[int, int, int, float]]]) -> None:
        self.faces_for, self.runs = faces_for, 0

    def get_outputs(self) -> list:
        return output_specs()

    def run(self, names: list[str], feeds: dict) -> list[np.ndarray]:
        self.runs += 1
        out = empty_outputs()
        for row, col, side, score in self.faces_for(self.runs):
            cell = row * 20 + col
            out["cls_32"][0, cell] = out["obj_32"][0, cell] = score
            out["bbox_32"][0, cell] = [0.5, 0.5, np.log(side / 32), np.log(side / 32)]
        return [out[n] for n in names]


class _Blaze:
    """BlazeFace outputs: one face filling the middle quarter of the crop (where the candidate is), or none."""

    def __init__(self, agrees: bool) -> None:
        self.agrees, self.runs = agrees, 0

    def run(self, names: None, feeds: dict) -> list[np.ndarray]:
        assert feeds["input"].shape == (1, 3, 128, 128)
        self.runs += 1
        regressors = np.zeros((1, 896, 16), dtype=np.float32)
        scores = np.full((1, 896, 1), -10.0, dtype=np.float32)
        if self.agrees:
            # Anchor 0 (centre 1/32, 1/32) moved to the middle, 32 px (a quarter of the input) square.
            regressors[0, 0, :4] = [
                (0.5 - face_blaze.ANCHORS[0, 0]) * 128,
                (0.5 - face_blaze.ANCHORS[0, 1]) * 128,
                32,
                32,
            ]
            scores[0, 0, 0] = 5.0
        return [regressors, scores]


def _detect(monkeypatch, rgb: np.ndarray, faces_for, blaze: _Blaze | None = None) -> tuple[list[faces.RawFace], int]:
    from smartthumb.analysis import models

    fake, blaze = _Fake(faces_for), blaze or _Blaze(agrees=False)
    monkeypatch.setattr(models, "get_session", lambda model, side=None: blaze if model is models.BLAZEFACE else fake)
    return faces.detect_faces(rgb), fake.runs


def _skin() -> np.ndarray:
    return np.full((427, 640, 3), SKIN, dtype=np.uint8)


def _first(n: int, crowd_face: tuple[int, float] | None = None):
    """``n`` of the CROWD faces in the first run; ``crowd_face`` (side, score) in every crowd-pass tile."""

    def faces_for(run: int) -> list[tuple[int, int, int, float]]:
        if run == 1:
            return [(r, c, 8, 0.9) for r, c in CROWD[:n]]
        if crowd_face is not None and run > 1 + SECOND_PASS:
            return [(2, 2, crowd_face[0], crowd_face[1])]
        return []

    return faces_for


def test_three_tiny_faces_add_the_crowd_pass(monkeypatch) -> None:
    found, runs = _detect(monkeypatch, _skin(), _first(3))
    assert len(found) == 3 and runs == 1 + SECOND_PASS + CROWD_PASS == 9
    # One or two tiny faces are no crowd: the 2x pass only.
    found, runs = _detect(monkeypatch, _skin(), _first(2))
    assert len(found) == 2 and runs == 1 + SECOND_PASS


def test_the_crowd_pass_adds_tiny_faces_from_its_lower_score(monkeypatch) -> None:
    # A 24 px face at the 3x input is 8 px in the image; 0.72 is under the 2x pass's 0.75, confirmed by skin.
    found, _ = _detect(monkeypatch, _skin(), _first(3, (24, 0.72)))
    assert len(found) == 3 + CROWD_PASS
    added = sorted((round(f.x), round(f.y), round(f.w)) for f in found if f.score < 0.8)
    # Tile (0, 0) of the region at (12, 12): input centre 80 -> 12 + 80 / 3; the second tile starts at 347 / 3.
    assert added == [(35, 35, 8), (150, 35, 8)]
    # Under CROWD_SCORE: nothing.
    found, _ = _detect(monkeypatch, _skin(), _first(3, (24, faces.CROWD_SCORE - 0.05)))
    assert len(found) == 3


def test_a_lower_crowd_candidate_counts_when_blazeface_agrees(monkeypatch) -> None:
    # 0.5 is under CROWD_SCORE and over CROWD_CONFIRM_LOW: BlazeFace decides, asked once per candidate.
    blaze = _Blaze(agrees=True)
    found, _ = _detect(monkeypatch, _skin(), _first(3, (24, 0.5)), blaze)
    assert len(found) == 3 + CROWD_PASS and blaze.runs == CROWD_PASS
    blaze = _Blaze(agrees=False)
    found, _ = _detect(monkeypatch, _skin(), _first(3, (24, 0.5)), blaze)
    assert len(found) == 3 and blaze.runs == CROWD_PASS
    # Under CROWD_CONFIRM_LOW it is not asked; at CROWD_SCORE and up it is not needed.
    for score in (faces.CROWD_CONFIRM_LOW - 0.05, faces.CROWD_SCORE + 0.02):
        blaze = _Blaze(agrees=True)
        _detect(monkeypatch, _skin(), _first(3, (24, score)), blaze)
        assert blaze.runs == 0, score


def test_blazeface_agreeing_does_not_replace_the_skin_check(monkeypatch) -> None:
    # In colour, a candidate under CONFIRM_SCORE still needs skin in its middle (confirmed()): none here.
    blue = np.zeros((427, 640, 3), dtype=np.uint8)
    blue[..., 2] = 200
    found, _ = _detect(monkeypatch, blue, _first(3, (24, 0.5)), _Blaze(agrees=True))
    assert len(found) == 3
    # Grey has no chroma: the two detectors are the signals (without BlazeFace, 0.75 and up only).
    gray = np.full((427, 640, 3), 128, dtype=np.uint8)
    found, _ = _detect(monkeypatch, gray, _first(3, (24, 0.5)), _Blaze(agrees=True))
    assert len(found) == 3 + CROWD_PASS
    found, _ = _detect(monkeypatch, gray, _first(3, (24, 0.5)), _Blaze(agrees=False))
    assert len(found) == 3


def test_the_crowd_pass_keeps_only_tiny_faces(monkeypatch) -> None:
    # 96 px at 3x is 32 px in the image: the 2x pass's business, not taken from the crowd pass.
    found, _ = _detect(monkeypatch, _skin(), _first(3, (96, 0.9)))
    assert len(found) == 3


def test_the_crowd_pass_needs_a_confident_score_without_chroma(monkeypatch) -> None:
    gray = np.full((427, 640, 3), 128, dtype=np.uint8)
    found, _ = _detect(monkeypatch, gray, _first(3, (24, 0.72)))
    assert len(found) == 3
    found, _ = _detect(monkeypatch, gray, _first(3, (24, 0.8)))
    assert len(found) == 3 + CROWD_PASS


def _face(x: float, y: float, side: float, score: float = 0.9) -> faces.RawFace:
    return faces.RawFace(x, y, side, side, score, ((0.0, 0.0),) * 5)


def test_a_tiny_face_twice_is_kept_once() -> None:
    best, shifted = _face(100, 100, 8), _face(103, 100, 10, 0.6)  # 5 x 8 of the smaller's 64 px: 0.62
    assert faces._without_doubles([best, shifted], tiny=16) == [best]
    # Neighbours in a crowd overlap less (0.32 of the smaller box at most on the benchmark): both stay.
    neighbour = _face(105, 105, 10, 0.6)  # 3 x 3 of 64: 0.14
    assert faces._without_doubles([best, neighbour], tiny=16) == [best, neighbour]
    # Larger faces are left to NMS.
    big, big_shifted = _face(100, 100, 40), _face(110, 100, 40, 0.6)
    assert faces._without_doubles([big, big_shifted], tiny=16) == [big, big_shifted]


def test_each_tile_is_suppressed_on_its_own(monkeypatch) -> None:
    """A face many anchors report comes back from a tile as one candidate (the final NMS's top-k is not flooded)."""

    class Many(_Fake):
        def run(self, names: list[str], feeds: dict) -> list[np.ndarray]:
            out = dict(zip(names, super().run(names, feeds), strict=True))
            # The same 32 px face at (80, 80) from 4 neighbouring stride-8 cells.
            for cell in (9 * 80 + 9, 9 * 80 + 10, 10 * 80 + 9, 10 * 80 + 10):
                out["cls_8"][0, cell] = out["obj_8"][0, cell] = 0.9
                row, col = divmod(cell, 80)
                out["bbox_8"][0, cell] = [10 - col, 10 - row, np.log(4), np.log(4)]
            return [out[n] for n in names]

    fake = Many(lambda run: [])
    names = [o.name for o in fake.get_outputs()]
    rows = faces._upsampled_pass(fake, names, _skin(), 0.5, 1.0)
    assert len(rows) == 1

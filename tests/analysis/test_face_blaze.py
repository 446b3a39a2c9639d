"""BlazeFace, the crowd pass's second detector: anchors, decoding, and the real model on a real face."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from smartthumb.analysis import face_blaze


def test_anchors_follow_the_two_grids() -> None:
    anchors = face_blaze.ANCHORS
    assert anchors.shape == (896, 2)
    # Two per cell of 16 x 16 first, then six per cell of 8 x 8.
    assert np.allclose(anchors[0], anchors[1]) and np.allclose(anchors[0], [1 / 32, 1 / 32])
    assert np.allclose(anchors[2], [3 / 32, 1 / 32])
    assert np.allclose(anchors[512], [1 / 16, 1 / 16]) and np.allclose(anchors[512:518], anchors[512])
    assert np.allclose(anchors[-1], [15 / 16, 15 / 16])


def test_decode_moves_the_anchor_by_its_offsets() -> None:
    regressors = np.zeros((1, 896, 16), dtype=np.float32)
    scores = np.full((1, 896, 1), -10.0, dtype=np.float32)
    regressors[0, 600, :4] = [12.8, -6.4, 32, 16]  # +0.1, -0.05 of the input; 0.25 x 0.125
    scores[0, 600, 0] = 2.0
    (x, y, w, h, score), *rest = face_blaze.decode(regressors, scores)
    cx, cy = face_blaze.ANCHORS[600] + [0.1, -0.05]
    assert not rest
    assert (x, y, w, h) == pytest.approx((cx - 0.125, cy - 0.0625, 0.25, 0.125), abs=1e-6)
    assert score == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert len(face_blaze.decode(regressors, scores, threshold=0.9)) == 0


@pytest.mark.model
def test_the_model_agrees_on_a_real_face_down_to_crowd_size() -> None:
    from skimage import data

    rgb = data.astronaut()  # 512 x 512; YuNet puts her face at about (179, 63, 91, 111)
    face = (179.0, 63.0, 91.0, 111.0)
    for k in (1, 4, 8):  # at 8 the face is 11 x 14 px, a crowd's smallest
        small = np.asarray(Image.fromarray(rgb).resize((512 // k, 512 // k), Image.Resampling.BILINEAR))
        assert face_blaze.agrees(small, tuple(v / k for v in face)), k  # type: ignore[arg-type]
    # Beside the face (two face widths to the right, her shoulder and the background), and on flat grey: no.
    assert not face_blaze.agrees(rgb, (face[0] + 2 * face[2], face[1], face[2], face[3]))
    assert not face_blaze.agrees(np.full((512, 512, 3), 128, dtype=np.uint8), face)

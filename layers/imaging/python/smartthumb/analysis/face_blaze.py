"""A second face detector, BlazeFace (short range), as the crowd pass's independent check.

YuNet's 3x crowd pass (:mod:`.faces`) finds a crowd's smallest faces (7-12 px
in the 640-px analysis image) at scores of 0.3-0.7, among texture and hands
that score the same; below :data:`.faces.CROWD_SCORE` it took none. A
candidate in :data:`.faces.CROWD_CONFIRM_LOW` up to that score now counts
when BlazeFace, a detector trained apart from YuNet (MediaPipe; Apache-2.0;
``layers/imaging/models/README.md`` says where the file comes from), finds a
face on the same spot. It runs once per such candidate, on a square crop
:data:`CROP` times the candidate's size centred on it and scaled to its
128 x 128 input. That framing is the one it is trained on, a face filling a
quarter of the picture. It is not tiled over the picture: on the crop
benchmark the tiled form cost 1.5 s more CPU over the two crowd photos, for
the same faces.
It agrees when a BlazeFace face of score >= :data:`SCORE` lies at IoU >=
:data:`AGREE_IOU` of the candidate's box. On the benchmark
(``tests/bench/crops/probe_blazeface.py --crowd``, README round 7): the
orchestra 29 -> 31 of 37 faces, no false face added, 31 BlazeFace runs.

Decoding follows MediaPipe's face-detection graph for this model: 896
anchors, 2 per cell of the 16 x 16 grid (stride 8), then 6 per cell of the
8 x 8 grid (stride 16), centred in their cells; regressor ``[dx, dy, w, h,
...]`` in input pixels, the box centre ``anchor + (dx, dy) / 128``; score
the sigmoid of the classificator. Input RGB scaled to [-1, 1], NCHW.
"""

from __future__ import annotations

import math

import numpy as np

from smartthumb.analysis import models
from smartthumb.analysis.face_closeup import iou

SIDE = models.BLAZEFACE.input_side
#: The crop's side, in candidate sizes (the longer side of its box).
CROP = 4.0
#: Least BlazeFace score that counts as a face.
SCORE = 0.5
#: A BlazeFace face agrees with the candidate at this IoU or more.
AGREE_IOU = 0.3


def anchors() -> np.ndarray:
    """The 896 anchor centres, ``(x, y)`` in the unit square, in the model's output order."""
    out: list[tuple[float, float]] = []
    for stride, per_cell in ((8, 2), (16, 6)):
        cells = SIDE // stride
        for y in range(cells):
            for x in range(cells):
                out += [((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell
    return np.array(out, dtype=np.float32)


ANCHORS = anchors()


def decode(regressors: np.ndarray, scores: np.ndarray, threshold: float = SCORE) -> np.ndarray:
    """Faces ``[x, y, w, h, score]`` in the unit square from one run's outputs (``[1, 896, 16]``, ``[1, 896, 1]``)."""
    logits = np.clip(scores.reshape(-1), -50.0, 50.0)
    score = 1.0 / (1.0 + np.exp(-logits))
    keep = np.nonzero(score >= threshold)[0]
    raw = regressors.reshape(-1, regressors.shape[-1])[keep, :4] / SIDE
    centre = ANCHORS[keep] + raw[:, :2]
    size = raw[:, 2:4]
    return np.column_stack([centre - size / 2, size, score[keep]]).astype(np.float32)


def preprocess(crop: np.ndarray) -> np.ndarray:
    """A ``SIDE x SIDE`` RGB uint8 crop as the model's input: float32 in [-1, 1], NCHW."""
    return (crop.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]


def agrees(rgb: np.ndarray, box: tuple[float, float, float, float], session: object | None = None) -> bool:
    """Whether BlazeFace finds a face on ``box`` (``x, y, w, h`` in ``rgb``'s pixels; module docstring)."""
    from PIL import Image

    x, y, w, h = box
    side = CROP * max(w, h)
    left, top = x + w / 2 - side / 2, y + h / 2 - side / 2
    square = (math.floor(left), math.floor(top), math.floor(left) + math.ceil(side), math.floor(top) + math.ceil(side))
    # Pillow pads a crop past the picture's edge with black.
    crop = Image.fromarray(rgb).crop(square).resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    session = session or models.get_session(models.BLAZEFACE)
    try:
        regressors, scores = session.run(None, {models.BLAZEFACE.input_name: preprocess(np.asarray(crop))})  # type: ignore[attr-defined]
    except Exception as exc:
        raise models.ModelUnavailable("face detection failed") from exc
    scale_x, scale_y = (square[2] - square[0]), (square[3] - square[1])
    for fx, fy, fw, fh, _ in decode(regressors, scores, SCORE):
        found = (square[0] + fx * scale_x, square[1] + fy * scale_y, fw * scale_x, fh * scale_y)
        if iou(found, box) >= AGREE_IOU:
            return True
    return False

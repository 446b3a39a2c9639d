"""A close-up the face pass sees but cannot confirm: a second look at half the size.

YuNet is documented for faces of about 10-300 px; a face that fills the frame
(eyes to mouth across a 640 px analysis image) is past that range and scores
low at 640 (0.73 on the benchmark's ``th-redeye``), under the 0.75 that needs
no skin check, and the skin check of its middle is not sure of it either
(0.84: the eyes and the brows are in the middle of so large a box). The
analysis image shrunk to :data:`CLOSEUP_SCALE` of its size and centred on a
canvas of its own size (edges repeated outward, not a flat colour that would
make a hard border) brings that face into the detector's range, where it
scores 0.92.

So a first-pass candidate that no kept face covers, at least
:data:`CLOSEUP_FACE` of the image's short side tall, gets that second look;
it is kept when the shrunk pass finds a face on it (IoU >= :data:`MATCH_IOU`)
scoring at least :data:`CLOSEUP_CONFIRM` (YuNet's own default threshold), and
the shrunk pass's box is what is kept. Two independent runs at two scales
agree, so no colour test is needed. Measured on the benchmark's 74 photos
without a detected face: three have such a candidate (``th-redeye``, an
alpaca 0.65 and a cheetah's head 0.58); at half the size the alpaca and the
cheetah score under 0.5 and the close-up 0.92. On every photo without a face
the shrunk pass's best false candidates were 0.63-0.76 (a lion, a koala, a
red panda, a bison), under :data:`CLOSEUP_CONFIRM`. The pass costs one
YuNet run (~18 ms median) and runs only for such a candidate.

Pure numpy apart from the resize (Pillow); the model run is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: A candidate at least this share of the image's short side tall is a close-up.
CLOSEUP_FACE = 0.5
#: The image is shrunk to this share of its size for the second look.
CLOSEUP_SCALE = 0.5
#: The shrunk pass's score that confirms a close-up (YuNet's default threshold).
CLOSEUP_CONFIRM = 0.9
#: The shrunk pass's face and the candidate are one face at this IoU or more.
MATCH_IOU = 0.3


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``x, y, w, h`` boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def large_uncovered(rows: np.ndarray, kept: Sequence[Sequence[float]], short_side: int) -> np.ndarray:
    """Candidate ``rows`` (``x, y, w, h, score, ...``) tall enough for a close-up
    that no ``kept`` box (``x, y, w, h``) matches."""
    tall = rows[rows[:, 3] >= CLOSEUP_FACE * short_side]
    return np.array([r for r in tall if all(iou(r[:4], k) < MATCH_IOU for k in kept)], dtype=np.float32).reshape(
        -1, rows.shape[1]
    )


def shrunk(rgb: np.ndarray, scale: float = CLOSEUP_SCALE) -> tuple[np.ndarray, int, int]:
    """``rgb`` shrunk by ``scale``, centred on a canvas of its own size with its edges
    repeated outward; and the shrunk image's offset ``(dx, dy)`` on it."""
    from PIL import Image

    height, width = rgb.shape[:2]
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    small = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR))
    dx, dy = (width - w) // 2, (height - h) // 2
    return np.pad(small, ((dy, height - h - dy), (dx, width - w - dx), (0, 0)), mode="edge"), dx, dy


def confirmed_closeups(run: Callable[[np.ndarray], np.ndarray], rgb: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The shrunk pass's rows (in ``rgb``'s pixels) that confirm one of ``candidates``.

    ``run`` gives a picture's candidate rows in its own pixels (before NMS).
    """
    if len(candidates) == 0:
        return candidates
    image, dx, dy = shrunk(rgb)
    rows = run(image)
    rows = rows[rows[:, 4] >= CLOSEUP_CONFIRM].copy()
    rows[:, [0, *range(5, rows.shape[1], 2)]] -= dx
    rows[:, [1, *range(6, rows.shape[1], 2)]] -= dy
    rows[:, :4] /= CLOSEUP_SCALE
    rows[:, 5:] /= CLOSEUP_SCALE
    keep = [r for r in rows if any(iou(r[:4], c[:4]) >= MATCH_IOU for c in candidates)]
    return np.array(keep, dtype=np.float32).reshape(-1, rows.shape[1])

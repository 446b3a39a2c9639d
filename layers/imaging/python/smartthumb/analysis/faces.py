"""Face detection with YuNet (2023mar) on onnxruntime.

Size: the three passes (640, upsampled tiles, the crowd's 3x) share one
decoding, one NMS and one confirmation rule, and each pass's thresholds are
set against the others'; apart, each would reach into the others' internals.

Pre-processing: the RGB analysis image is scaled so its long side is 640
(kept ratio), converted to BGR float32 0..255 (OpenCV's ``FaceDetectorYN``
feeds the network raw BGR pixels, no mean or scale) and letterboxed into the
top-left of a 640x640 zero canvas, NCHW.

Decoding (one anchor per grid cell at strides 8, 16 and 32; cell ``i`` of an
``n x n`` grid is row ``i // n``, column ``i % n``):

* score = sqrt(clip(cls, 0, 1) * clip(obj, 0, 1));
* box centre = (column + dx, row + dy) * stride, size = exp(dw, dh) * stride;
* landmark k = (column + kx_k, row + ky_k) * stride — right eye, left eye,
  nose tip, right and left mouth corners (from the subject's point of view).

Thresholds: :data:`SCORE_THRESHOLD` 0.5 and :data:`NMS_IOU` 0.3. OpenCV's demo
uses 0.9, which drops smaller, masked or profile faces in group photos (on the
crop benchmark, ``tests/bench/crops``, real faces score 0.53-0.95).

Confirmation: a candidate below :data:`CONFIRM_SCORE` (0.75) is kept only
when a second, independent signal agrees: at least :data:`SKIN_CONFIRM` of
the pixels in the middle of its box (the cheeks, nose and mouth:
:func:`skin_fraction`) have a skin chroma (YCrCb, Cr 135-180 and Cb 85-135,
a range that holds every skin tone in the benchmark). Measured on the
benchmark's candidates in 0.5-0.75: real faces 0.94-1.00 except one masked
face (0.90); false ones 0.14-0.76 (a camera lens, a dog, an alpaca, a
cheetah, meerkats) and a motorcycle headlight at 0.90. A grayscale image
has no chroma, so there the score alone decides.

Second scale: YuNet is documented for faces of about 10-300 px, and at 640
the background faces of a group (15-25 px) score 0.3-0.45. When the first
pass found a person (a confident detection with skin in its middle:
:func:`is_person`) whose face is under :data:`TILE_FACE_MAX` of the short
side (a group or a medium shot, not a close-up), the analysis image is
upsampled :data:`TILE_SCALE` times and run again in overlapping 640 x 640
tiles (2 for a 640 x 427 image, 4 for a square one, ~12 ms each); there
those faces score 0.7-0.85. When the first pass already kept a face under
:data:`TINY_FACE` px (a crowd at the detector's floor, whose smaller faces
are 7-10 px), the factor is :data:`TILE_SCALE_TINY` (2x: 6 tiles for
640 x 427, the face pass ~30 -> 55-75 ms; benchmark recall 0.83 -> 0.86,
the street crowd 15 -> 19 of 20 faces, the orchestra 18 -> 20 of 37). Upsampling also lifts texture (a flag, a patch)
to 0.5-0.6 with skin chroma, so only the second pass's candidates of at
least :data:`CONFIRM_SCORE` are taken; they join the first pass's in one NMS
(the higher score wins). When the first pass kept faces but none is a
person (a crowd of 10-20 px faces all scoring 0.5-0.75), the second pass
runs too, and then each of its candidates must be a person itself (skin
chroma in :data:`SKIN_CONFIRM` of its middle; none in a grayscale image):
on the benchmark that keeps the orchestra's small faces (skin 0.98-1.00)
and drops every upsampled false candidate (a calf 0.80, a dog 0.63, a crab
0.36, a camera 0.33, carved faces 0.00). A first pass with no face or only large ones
does not run it; a large candidate it could not confirm is looked at half size (:mod:`.face_closeup`).

Third scale, for a crowd: when the first pass kept at least
:data:`CROWD_FACES` (3) faces under :data:`TINY_FACE` px, the picture is a
crowd at the detector's floor whose smaller faces (7-12 px at 640) still
score under 0.75 at 2x. Then the first pass's faces' extent, widened by
:data:`CROWD_MARGIN` (64 px at 640; farther faces sit among and beside the
nearer ones: in the benchmark's two crowds every face lies within 46 px of
it), is also upsampled :data:`TILE_SCALE_CROWD` (3x: 8 tiles for the
orchestra, 4 for the street crowd's band); its candidates count from
:data:`CROWD_SCORE` (0.7; under 0.75 the skin check of :func:`confirmed`
decides; without chroma only 0.75 and up) and only under :data:`TINY_FACE`
px: larger ones are the 2x pass's (a 3x tile's overlap holds a face whole
only up to 40 px). Benchmark: the orchestra 20 -> 29 of 37 faces, no other
photo's faces change (only the two crowds have three tiny faces; the two
photos with one or two give the same faces with the rule at 1 or 2). At 0.6
the orchestra gained 2-3 more faces but timpani and a hand (skin chroma)
came in as faces. A decode above 640 found the same faces: one decode stays.
Under CROWD_SCORE, from :data:`CROWD_CONFIRM_LOW` (0.3), a crowd candidate
counts when a second, independent detector agrees: BlazeFace, run once on a
crop around it (:mod:`.face_blaze`); the skin check of :func:`confirmed`
still applies to it. Benchmark: the orchestra 29 -> 31 of 37, no false face
added, 31 BlazeFace runs (about 50 ms); the street crowd unchanged.

After a crowd pass, a face under :data:`TINY_FACE` lying on a better tiny
one by :data:`DOUBLE_OVERLAP` (0.4) of the smaller box is the same face
again: at 10 px a few pixels between passes put IoU under NMS's 0.3 (two
such pairs in the orchestra: 0.48 and 0.64 of the smaller box), while the
benchmark's faces overlap each other by at most 0.32 of the smaller box.
Each upsampled tile goes through NMS on its own first: a crowd's tiles gave
more candidates than :data:`PRE_NMS_TOP_K` and the final NMS cut real faces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from smartthumb.analysis import face_blaze, face_closeup, models

SCORE_THRESHOLD = 0.5
#: Candidates scoring below this need the skin check to be kept.
CONFIRM_SCORE = 0.75
#: Fraction of skin-chroma pixels that confirms a low-scoring candidate.
SKIN_CONFIRM = 0.92
#: Mean chroma distance (|Cr - 128| + |Cb - 128|) below which an image counts as grayscale.
GRAY_CHROMA = 2.0
NMS_IOU = 0.3
#: At most this many faces are kept (largest scores first).
MAX_FACES = 50
#: Candidates before NMS (limits the NMS cost on busy pictures).
PRE_NMS_TOP_K = 500
STRIDES = (8, 16, 32)
#: The upsampled pass: factor, tile overlap (input pixels) and the largest analysis image it runs on.
TILE_SCALE = 1.5
#: ... and 2x instead when the first pass already kept a face under this height (at the 640 input): a crowd
#: whose smaller faces (7-10 px) stay under YuNet's ~10 px floor at 1.5x.
TILE_SCALE_TINY = 2.0
TINY_FACE = 16
TILE_OVERLAP = 120
#: A crowd at the detector's floor: this many first-pass faces under TINY_FACE add a TILE_SCALE_CROWD pass,
#: whose candidates count from CROWD_SCORE up and only under TINY_FACE (module docstring).
CROWD_FACES = 3
TILE_SCALE_CROWD = 3.0
CROWD_SCORE = 0.7
#: ... and after it, a tiny face lying this much (of the smaller box) on a better tiny one is the same face.
DOUBLE_OVERLAP = 0.4
#: A crowd-pass candidate from this score up to CROWD_SCORE counts when BlazeFace agrees (:mod:`.face_blaze`).
CROWD_CONFIRM_LOW = 0.3
#: The crowd pass covers the first pass's faces' extent widened by this (px at the 640 input) on each side.
CROWD_MARGIN = 64
TILE_MAX_SIDE = 640
#: ... and only when the smallest person's face is below this share of the image's short side (not after a close-up).
TILE_FACE_MAX = 0.125
SIDE = models.YUNET.input_side


@dataclass(frozen=True, slots=True)
class RawFace:
    """A face in the analysis image's pixels (floats): top-left, size, score, 5 landmarks."""

    x: float
    y: float
    w: float
    h: float
    score: float
    landmarks: tuple[tuple[float, float], ...]


def preprocess(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """NCHW BGR float32 input and the scale from the analysis image to it."""
    from PIL import Image

    height, width = rgb.shape[:2]
    scale = SIDE / max(width, height)
    new_w = max(1, min(SIDE, round(width * scale)))
    new_h = max(1, min(SIDE, round(height * scale)))
    if (new_w, new_h) != (width, height):
        resized = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BILINEAR))
    else:
        resized = rgb
    blob = np.zeros((1, 3, SIDE, SIDE), dtype=np.float32)
    # RGB -> BGR planes.
    blob[0, 0, :new_h, :new_w] = resized[:, :, 2]
    blob[0, 1, :new_h, :new_w] = resized[:, :, 1]
    blob[0, 2, :new_h, :new_w] = resized[:, :, 0]
    return blob, scale


def decode(outputs: Mapping[str, np.ndarray], score_threshold: float = SCORE_THRESHOLD) -> np.ndarray:
    """Candidates above the threshold as rows ``x, y, w, h, score, 10 landmark coords``
    in the 640x640 input's pixels (before NMS)."""
    rows: list[np.ndarray] = []
    for stride in STRIDES:
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0.0, 1.0)
        score = np.sqrt(cls * obj)
        keep = np.nonzero(score >= score_threshold)[0]
        if keep.size == 0:
            continue
        n = SIDE // stride
        col = (keep % n).astype(np.float32)
        row = (keep // n).astype(np.float32)
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)[keep]
        cx = (col + bbox[:, 0]) * stride
        cy = (row + bbox[:, 1]) * stride
        w = np.exp(np.minimum(bbox[:, 2], 10.0)) * stride
        h = np.exp(np.minimum(bbox[:, 3], 10.0)) * stride
        pts = np.empty_like(kps)
        pts[:, 0::2] = (kps[:, 0::2] + col[:, None]) * stride
        pts[:, 1::2] = (kps[:, 1::2] + row[:, None]) * stride
        rows.append(np.column_stack([cx - w / 2, cy - h / 2, w, h, score[keep], pts]))
    if not rows:
        return np.zeros((0, 15), dtype=np.float32)
    return np.concatenate(rows).astype(np.float32)


def nms(candidates: np.ndarray, iou_threshold: float = NMS_IOU, top_k: int = MAX_FACES) -> np.ndarray:
    """Greedy non-maximum suppression on rows ``x, y, w, h, score, ...``."""
    if len(candidates) == 0:
        return candidates
    order = np.argsort(-candidates[:, 4], kind="stable")[:PRE_NMS_TOP_K]
    boxes = candidates[order]
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    areas = np.maximum(boxes[:, 2], 0) * np.maximum(boxes[:, 3], 0)
    alive = np.ones(len(boxes), dtype=bool)
    kept: list[int] = []
    for i in range(len(boxes)):
        if not alive[i]:
            continue
        kept.append(i)
        if len(kept) >= top_k:
            break
        iw = np.clip(np.minimum(x2[i], x2) - np.maximum(x1[i], x1), 0, None)
        ih = np.clip(np.minimum(y2[i], y2) - np.maximum(y1[i], y1), 0, None)
        inter = iw * ih
        iou = inter / np.maximum(areas[i] + areas - inter, 1e-6)
        alive &= iou <= iou_threshold
    return boxes[kept]


def _chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = rgb.astype(np.float32)
    y = 0.299 * p[..., 0] + 0.587 * p[..., 1] + 0.114 * p[..., 2]
    return (p[..., 0] - y) * 0.713 + 128.0, (p[..., 2] - y) * 0.564 + 128.0


def is_grayscale(rgb: np.ndarray) -> bool:
    """No colour to judge skin by (sampled on a coarse grid: cheap on any size)."""
    step = max(1, max(rgb.shape[:2]) // 64)
    cr, cb = _chroma(rgb[::step, ::step])
    return float(np.mean(np.abs(cr - 128.0) + np.abs(cb - 128.0))) < GRAY_CHROMA


def skin_fraction(rgb: np.ndarray, x: float, y: float, w: float, h: float) -> float:
    """Share of skin-chroma pixels in the middle of a face box (x 20-80 %, y 25-85 %)."""
    height, width = rgb.shape[:2]
    x0 = min(max(int(x + 0.2 * w), 0), width - 1)
    y0 = min(max(int(y + 0.25 * h), 0), height - 1)
    x1 = min(max(int(x + 0.8 * w), x0 + 1), width)
    y1 = min(max(int(y + 0.85 * h), y0 + 1), height)
    cr, cb = _chroma(rgb[y0:y1, x0:x1])
    skin = (cr >= 135) & (cr <= 180) & (cb >= 85) & (cb <= 135)
    return float(skin.mean())


def confirmed(rgb: np.ndarray, faces: list[RawFace]) -> list[RawFace]:
    """Drop low-scoring candidates that the skin check does not confirm (module docstring)."""
    if all(f.score >= CONFIRM_SCORE for f in faces) or is_grayscale(rgb):
        return faces
    return [f for f in faces if f.score >= CONFIRM_SCORE or skin_fraction(rgb, f.x, f.y, f.w, f.h) >= SKIN_CONFIRM]


def _run(session: object, names: list[str], rgb: np.ndarray, threshold: float) -> np.ndarray:
    """Candidate rows (see :func:`decode`) in ``rgb``'s own pixels, before NMS."""
    blob, scale = preprocess(rgb)
    try:
        values = session.run(names, {models.YUNET.input_name: blob})  # type: ignore[attr-defined]
    except Exception as exc:
        raise models.ModelUnavailable("face detection failed") from exc
    rows = decode(dict(zip(names, values, strict=True)), threshold)
    rows[:, :4] /= scale
    rows[:, 5:] /= scale
    return rows


def tiles(width: int, height: int, side: int = SIDE, overlap: int = TILE_OVERLAP) -> list[tuple[int, int]]:
    """Top-left corners of ``side``-square tiles covering a ``width x height`` image, overlapping by ``overlap``."""

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        step = side - overlap
        return sorted({*range(0, length - side, step), length - side})

    return [(x, y) for y in starts(height) for x in starts(width)]


def _upsampled_pass(
    session: object, names: list[str], rgb: np.ndarray, threshold: float, scale: float = TILE_SCALE
) -> np.ndarray:
    """Candidates from ``scale``-times upsampled tiles, in ``rgb``'s pixels (small faces)."""
    from PIL import Image

    height, width = rgb.shape[:2]
    up_w, up_h = round(width * scale), round(height * scale)
    up = np.asarray(Image.fromarray(rgb).resize((up_w, up_h), Image.Resampling.BILINEAR))
    kx, ky = up_w / width, up_h / height
    found = []
    for tx, ty in tiles(up_w, up_h):
        # One tile's candidates through NMS first: a crowd's tiles would overflow the final NMS's top-k.
        rows = nms(_run(session, names, up[ty : ty + SIDE, tx : tx + SIDE], threshold), top_k=PRE_NMS_TOP_K)
        rows[:, 0] += tx
        rows[:, 1] += ty
        rows[:, 5::2] += tx
        rows[:, 6::2] += ty
        rows[:, [0, 2]] /= kx
        rows[:, [1, 3]] /= ky
        rows[:, 5::2] /= kx
        rows[:, 6::2] /= ky
        found.append(rows)
    return np.concatenate(found) if found else np.zeros((0, 15), dtype=np.float32)


def _faces(rows: np.ndarray, width: int, height: int) -> list[RawFace]:
    out: list[RawFace] = []
    for row in rows:
        x, y, w, h = (float(v) for v in row[:4])
        # Clip to the image: letterbox padding lies right/below it.
        x0, y0 = max(0.0, x), max(0.0, y)
        x1, y1 = min(float(width), x + w), min(float(height), y + h)
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        pts = row[5:]
        landmarks = tuple((float(pts[2 * k]), float(pts[2 * k + 1])) for k in range(5))
        out.append(RawFace(x0, y0, x1 - x0, y1 - y0, float(row[4]), landmarks))
    return out


def is_person(rgb: np.ndarray, face: RawFace) -> bool:
    """A confident detection with skin in its middle (what makes the upsampled pass worth running)."""
    return face.score >= CONFIRM_SCORE and (
        is_grayscale(rgb) or skin_fraction(rgb, face.x, face.y, face.w, face.h) >= SKIN_CONFIRM
    )


def detect_faces(rgb: np.ndarray, score_threshold: float = SCORE_THRESHOLD) -> list[RawFace]:
    """Faces in ``rgb`` (H x W x 3 uint8), in its own pixel coordinates, best first,
    low-scoring candidates confirmed by skin chroma (:func:`confirmed`).

    Two scales (module docstring): the whole image at 640; then, when that
    pass found a person (:func:`is_person`) whose face is smaller than
    :data:`TILE_FACE_MAX` of the short side, or faces but no person (then
    only skin-confirmed new candidates), and the image is no larger than
    :data:`TILE_MAX_SIDE`, :data:`TILE_SCALE`-times upsampled tiles for the
    small faces beside them (and, for a crowd of faces under :data:`TINY_FACE`,
    a :data:`TILE_SCALE_CROWD` pass for its smallest ones); the candidates of
    all passes go through one NMS (the higher score wins) and the same
    confirmation.
    """
    session = models.get_session(models.YUNET)
    names = [o.name for o in session.get_outputs()]
    height, width = rgb.shape[:2]
    candidates = _run(session, names, rgb, score_threshold)
    first = confirmed(rgb, _faces(rows := nms(candidates), width, height))
    big = face_closeup.large_uncovered(rows, [(f.x, f.y, f.w, f.h) for f in first], min(height, width))
    if len(big):  # a close-up past the detector's range (analysis/face_closeup.py)
        closeups = face_closeup.confirmed_closeups(lambda image: _run(session, names, image, score_threshold), rgb, big)
        first += _faces(nms(closeups), width, height)
        candidates = np.concatenate([candidates, closeups])  # kept by a later pass's NMS too
    if max(height, width) > TILE_MAX_SIDE or not first:
        return first
    people = [f.h for f in first if is_person(rgb, f)]
    # A close-up (its smallest person, or without one its smallest face, is large) has no small faces to find.
    if min(people or [f.h for f in first]) >= TILE_FACE_MAX * min(height, width):
        return first
    # Upsampling makes texture look like small faces too: only its confident candidates count.
    tiny = [f for f in first if f.h * SIDE / max(height, width) < TINY_FACE]
    scale = TILE_SCALE_TINY if tiny else TILE_SCALE
    extra = _upsampled_pass(session, names, rgb, max(score_threshold, CONFIRM_SCORE), scale)
    crowd = len(tiny) >= CROWD_FACES
    if crowd:
        extra = np.concatenate([extra, _crowd_pass(session, names, rgb, score_threshold, first)])
    if not people:
        # No person to vouch for the picture: each new candidate must be a person itself.
        extra = np.array([r for r in extra if _skin_person(rgb, r)], dtype=np.float32).reshape(-1, extra.shape[1])
    candidates = np.concatenate([candidates, extra])
    found = confirmed(rgb, _faces(nms(candidates), width, height))
    return _without_doubles(found, TINY_FACE * max(height, width) / SIDE) if crowd else found


def _crowd_pass(
    session: object, names: list[str], rgb: np.ndarray, score_threshold: float, first: list[RawFace]
) -> np.ndarray:
    """The 3x pass for a crowd's smallest faces, over the first pass's faces' extent widened by
    CROWD_MARGIN: its candidates under TINY_FACE (module docstring)."""
    height, width = rgb.shape[:2]
    margin = CROWD_MARGIN * max(height, width) / SIDE
    x0 = max(0, int(min(f.x for f in first) - margin))
    y0 = max(0, int(min(f.y for f in first) - margin))
    x1 = min(width, int(max(f.x + f.w for f in first) + margin) + 1)
    y1 = min(height, int(max(f.y + f.h for f in first) + margin) + 1)
    floor = max(score_threshold, CONFIRM_SCORE if is_grayscale(rgb) else CROWD_SCORE)  # 0.7-0.75 need skin too
    rows = _upsampled_pass(session, names, rgb[y0:y1, x0:x1], min(floor, CROWD_CONFIRM_LOW), TILE_SCALE_CROWD)
    rows[:, [0, *range(5, 15, 2)]] += x0
    rows[:, [1, *range(6, 15, 2)]] += y0
    rows = nms(rows[rows[:, 3] * SIDE / max(height, width) < TINY_FACE], top_k=PRE_NMS_TOP_K)
    # Under the floor a candidate counts only when BlazeFace, an independent detector, agrees (module docstring).
    kept = [
        r for r in rows if r[4] >= floor or face_blaze.agrees(rgb, (float(r[0]), float(r[1]), float(r[2]), float(r[3])))
    ]
    return np.array(kept, dtype=np.float32).reshape(-1, rows.shape[1])


def _without_doubles(found: list[RawFace], tiny: float) -> list[RawFace]:
    """Drop a tiny face that lies mostly (:data:`DOUBLE_OVERLAP` of the smaller box) on a better-scoring tiny one.

    Passes at three scales put a 10 px face's box a few pixels apart, under NMS's IoU of 0.3; ``found`` is
    best first, and boxes of ``tiny`` px or more are left to NMS alone.
    """
    kept: list[RawFace] = []
    for f in found:
        if f.h < tiny and any(k.h < tiny and _overlap_of_smaller(f, k) >= DOUBLE_OVERLAP for k in kept):
            continue
        kept.append(f)
    return kept


def _overlap_of_smaller(a: RawFace, b: RawFace) -> float:
    iw = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    ih = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(iw, 0.0) * max(ih, 0.0) / max(min(a.w * a.h, b.w * b.h), 1e-6)


def _skin_person(rgb: np.ndarray, row: np.ndarray) -> bool:
    """An upsampled candidate with skin chroma in its middle (never in a grayscale image: no chroma to judge)."""
    x, y, w, h = (float(v) for v in row[:4])
    return not is_grayscale(rgb) and skin_fraction(rgb, x, y, w, h) >= SKIN_CONFIRM

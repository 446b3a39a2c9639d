"""Region of interest and one crop box per aspect ratio. Pure numpy.

Nothing here imports onnxruntime or Pillow; every function takes plain boxes
and arrays in full-resolution, oriented source pixels, so the rules can be
property-tested quickly.

Rules and thresholds
--------------------
* **Faces** are expanded before they count as "important": up by
  :data:`FACE_EXPAND_TOP` x face height (hair, forehead; YuNet's box starts
  around the eyebrows), down by :data:`FACE_EXPAND_BOTTOM` x height (chin),
  and :data:`FACE_EXPAND_SIDE` x width on each side (ears, hair); clipped to
  the image.
* **Region of interest**: the union of the expanded faces when there are
  faces; otherwise, from the saliency map, the pixels at or above
  :data:`SALIENCY_THRESHOLD` (the network's sigmoid output), trimmed of
  :data:`ROI_MASS_TRIM` of their mass on each side of each axis so a stray
  speck does not stretch the box; then the top grows back over the salient
  rows directly above it (no gap), by up to :data:`ROI_TOP_GROW` of the
  region's height: the ears, horns or hair at the top of a head hold little
  mass, and a tall subject is cropped from its top; ``None`` ("nothing salient") when fewer
  than :data:`MIN_SALIENT_FRACTION` of the map's pixels pass.
* **Box for a ratio**: the largest box of that ratio inside the image
  (:func:`smartthumb.geometry.ratio_box_size`: integers, one side full, the
  other rounded, so the ratio is right within a pixel). It can only slide
  along one axis; every integer position is scored, lexicographically:

  1. the number of detected faces at least :data:`FACE_INSIDE` (90 %) inside
     (so every face that can fit is kept, and when not all can, as many faces
     as possible are kept mostly whole rather than one whole and one cut);
  2. the number of detected faces held whole;
  3. the importance mass inside: the saliency map's when it was computed,
     else the expanded faces' area (so when not every face fits, the larger,
     nearer faces of a group win over a small one at its side) — exact
     window sums over a prefix sum of the map's projection on the free axis
     (the map is upsampled by nearest neighbour, so this is the
     integral-image sum, in O(length)); positions within
     :data:`MASS_TOLERANCE` of the total mass of the best count as equal, so
     near-flat stretches do not decide by noise (with saliency,
     :data:`SALIENCY_TOLERANCE`: the detail-weighted map's peak is the
     sharpest part of the subject, and only exact plateaus tie);
  4. the number of *expanded* faces (hair, chin) held whole;
  5. the position closest to the one centring the region of interest (the
     image centre without one).

  With no faces and nothing salient the box is centred. Without faces, a
  salient region taller than a window that slides vertically is cut from its
  top (people: the head; animals standing: the head; spires, rockets: the top)
  instead of keeping the middle of its mass; one wider than a window that
  slides horizontally is placed, when it stands on something (it reaches
  the bottom :data:`GROUND_BAND` of the image: an animal on the ground, a
  person), at its *front* when its shape shows one (:mod:`.front`: the end
  that hangs free of the legs, or the free end of a subject the frame cuts
  at the other side: an animal's head), the window ending where the
  subject does (for this rule the subject's width is its whole extent, the
  front's, not the trimmed region's: a head the trim cut off makes the
  subject wider than a window the region fits); else by the mass in its
  top :data:`.importance.TOP_BAND` (an animal's head stands above its back,
  a person's head above the shoulders); and when it floats (a bird in
  flight, a running cat in mid-frame) by its whole detail-weighted
  mass (a head or a beak is its sharpest part; wings are smooth).
* **A pinned region** (a manual region, or an embedded XMP/IPTC one: they
  outrank faces and saliency) is placed by one rule of its own,
  :func:`smartthumb.placement.pinned_window`: held whole, centred, whenever
  it fits; when it does not, the window stays inside it and keeps its most
  important part -- the faces inside it (detected or embedded) by the rule above, else its
  top when it is taller than the window, its middle when wider.
* **Automatic crop** (no ratio requested): the region of interest's own
  ratio, clamped to [:data:`AUTO_RATIO_MIN`, :data:`AUTO_RATIO_MAX`] (the
  range Azure allows there) and rounded to two decimals, then boxed like a
  requested ratio. A box of the region's own shape is the one that can hold
  the region whole while cutting the most of what lies beside it (any other
  shape, scaled to hold the region, takes in more width or more height).
  Without a region, the image's own ratio (clamped): the whole picture when
  it is not extreme.

Values are the constants below. The importance projections come from the
saliency map weighted by detail (:mod:`.detail`), not from the raw map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from smartthumb import placement
from smartthumb.analysis.importance import Importance
from smartthumb.geometry import Box, Size, place_window, ratio_box_size

FACE_EXPAND_TOP = 0.5
FACE_EXPAND_BOTTOM = 0.2
FACE_EXPAND_SIDE = 0.25
#: A face counts as kept when at least this fraction of it is inside the crop.
FACE_INSIDE = 0.9

SALIENCY_THRESHOLD = 0.5
MIN_SALIENT_FRACTION = 0.005
ROI_MASS_TRIM = 0.01
#: The region's top grows over contiguous salient rows above the trimmed top, by up to this share of its height.
ROI_TOP_GROW = 0.15
MASS_TOLERANCE = 0.01
#: The same for the detail-weighted saliency: its maximum means something, only the compact form's rounding is noise.
SALIENCY_TOLERANCE = 0.0003
GROUND_BAND = 0.2  #: a region reaching into this bottom share of the image stands on something

AUTO_RATIO_MIN = 0.5
AUTO_RATIO_MAX = 2.0


def clip_box(x0: float, y0: float, x1: float, y1: float, size: Size) -> Box:
    """Integer box covering ``[x0, x1) x [y0, y1)``, clipped to the image, at least 1x1."""
    left = min(max(math.floor(x0), 0), size.width - 1)
    top = min(max(math.floor(y0), 0), size.height - 1)
    right = max(min(math.ceil(x1), size.width), left + 1)
    bottom = max(min(math.ceil(y1), size.height), top + 1)
    return Box(left, top, right - left, bottom - top)


def expand_face(face: Box, size: Size) -> Box:
    """The face plus hair and chin (factors in the module docstring)."""
    return clip_box(
        face.x - FACE_EXPAND_SIDE * face.w,
        face.y - FACE_EXPAND_TOP * face.h,
        face.right + FACE_EXPAND_SIDE * face.w,
        face.bottom + FACE_EXPAND_BOTTOM * face.h,
        size,
    )


def union(boxes: Sequence[Box]) -> Box:
    x0 = min(b.x for b in boxes)
    y0 = min(b.y for b in boxes)
    x1 = max(b.right for b in boxes)
    y1 = max(b.bottom for b in boxes)
    return Box(x0, y0, x1 - x0, y1 - y0)


def _trimmed_extent(mass: np.ndarray, trim: float) -> tuple[int, int]:
    """First and last index (inclusive) holding the central ``1 - 2*trim`` of ``mass``."""
    cum = np.cumsum(mass, dtype=np.float64)
    total = cum[-1]
    first = int(np.searchsorted(cum, total * trim, side="right"))
    last = int(np.searchsorted(cum, total * (1.0 - trim), side="left"))
    first = min(first, len(mass) - 1)
    last = max(min(last, len(mass) - 1), first)
    return first, last


def saliency_roi(saliency: np.ndarray, size: Size) -> Box | None:
    """The salient region in source pixels, or ``None`` when nothing is salient."""
    mask = saliency >= SALIENCY_THRESHOLD
    if mask.mean() < MIN_SALIENT_FRACTION:
        return None
    weight = np.where(mask, saliency, 0.0)
    mh, mw = saliency.shape
    c0, c1 = _trimmed_extent(weight.sum(axis=0), ROI_MASS_TRIM)
    r0, r1 = _trimmed_extent(weight.sum(axis=1), ROI_MASS_TRIM)
    # Thin ears, horns, hair: the top grows over touching salient rows (a speck past a gap stays out).
    rows = mask.any(axis=1)
    limit = max(r0 - math.ceil(ROI_TOP_GROW * (r1 - r0 + 1)), 0)
    while r0 > limit and rows[r0 - 1]:
        r0 -= 1
    return clip_box(
        c0 * size.width / mw,
        r0 * size.height / mh,
        (c1 + 1) * size.width / mw,
        (r1 + 1) * size.height / mh,
        size,
    )


def region_of_interest(faces: Sequence[Box], saliency: np.ndarray | None, size: Size) -> Box | None:
    """Expanded faces first; else the salient region; else ``None``."""
    if faces:
        return union([expand_face(f, size) for f in faces])
    if saliency is not None:
        return saliency_roi(saliency, size)
    return None


def mostly_inside_span(interval: tuple[int, int], window: int) -> tuple[int, int]:
    """The interval a window must cover for :data:`FACE_INSIDE` of ``[a, b)`` to be inside.

    On the window's free axis (the other is full) the window covers
    ``m = b - a - floor((1 - FACE_INSIDE) * (b - a))`` pixels of the face
    exactly when it covers ``[b - m, a + m)``: a window at least as long as
    the face may leave out only one end of it (the interval is the face less
    its allowed loss at each end), and a shorter one -- a close-up at an
    extreme ratio, whose face is longer than the window by less than a tenth
    -- must cover the face's middle ``[b - m, a + m)`` (then shorter than the
    window), so the containment counter treats the face as that interval in
    both cases. A face of which the window cannot hold ``m`` pixels is
    returned unchanged: it never counts.
    """
    a, b = interval
    # Whole pixels the face must keep (the epsilon keeps 0.1 x 40 at 4, not 3.999...).
    keep = (b - a) - math.floor((1.0 - FACE_INSIDE) * (b - a) + 1e-9)
    if keep > window:
        return a, b
    return b - keep, a + keep


def _containment_counts(intervals: Sequence[tuple[int, int]], window: int, positions: int) -> np.ndarray:
    """For each start ``p`` in ``0..positions-1``: how many ``[a, b)`` lie within ``[p, p + window)``.

    ``[a, b)`` is inside exactly when ``b - window <= p <= a``: a difference array.
    """
    diff = np.zeros(positions + 1, dtype=np.int64)
    for a, b in intervals:
        lo = max(b - window, 0)
        hi = min(a, positions - 1)
        if lo <= hi:
            diff[lo] += 1
            diff[hi + 1] -= 1
    return np.cumsum(diff[:-1])


def _most(counts: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The candidates with the highest count among candidates."""
    return (masked := np.where(candidates, counts, -1)) == masked.max()


def grounded(roi: Box, size: Size) -> bool:
    """Whether a salient region reaches the bottom :data:`GROUND_BAND` of the image (it stands on something)."""
    return roi.bottom >= (1.0 - GROUND_BAND) * size.height


def _profile_from_boxes(boxes: Sequence[Box], axis: int, length: int) -> np.ndarray:
    """Per-source-pixel area of ``boxes`` along ``axis`` (each box adds its cross-extent)."""
    diff = np.zeros(length + 1, dtype=np.float64)
    for b in boxes:
        start, end, cross = (b.x, b.right, b.h) if axis == 0 else (b.y, b.bottom, b.w)
        diff[start] += cross
        diff[end] -= cross
    return np.cumsum(diff[:-1])


def best_box(
    size: Size,
    window: Size,
    faces: Sequence[Box],
    saliency: np.ndarray | Importance | None,
    roi: Box | None,
    pinned: Box | None = None,
) -> Box:
    """Place ``window`` (no larger than ``size``) to keep the most importance (rules above).

    A ``pinned`` region (manual or embedded) is placed by
    :func:`smartthumb.placement.pinned_window`, the one pinned-region rule.
    """
    if pinned is not None:
        return placement.pinned_window(size, window, pinned, faces)
    if window.width < size.width:
        axis, length, extent = 0, size.width, window.width
    elif window.height < size.height:
        axis, length, extent = 1, size.height, window.height
    else:
        return Box(0, 0, size.width, size.height)
    positions = length - extent + 1

    def span(b: Box) -> tuple[int, int]:
        return (b.x, b.right) if axis == 0 else (b.y, b.bottom)

    candidates = np.ones(positions, dtype=bool)
    front = None
    if faces:
        expanded = [expand_face(f, size) for f in faces]
        mostly = [mostly_inside_span(span(f), extent) for f in faces]
        for intervals in (mostly, [span(f) for f in faces]):
            candidates &= _most(_containment_counts(intervals, extent, positions), candidates)
        profile = _profile_from_boxes(expanded, axis, length)
    elif saliency is not None and roi is not None:
        importance = saliency if isinstance(saliency, Importance) else Importance.from_map(saliency, size, roi)
        front = importance.front
        # A subject wider than the window: keep its top part (an animal's
        # head stands above its back; a person's head above the shoulders).
        profile = importance.profile(axis, size, top=axis == 0 and roi.w > extent and grounded(roi, size))
    else:
        profile = None

    if not faces and roi is not None and axis == 1 and roi.h > extent:
        # A tall salient subject larger than the window: keep its top (a
        # head, a spire, a rocket's nose), not the middle of its mass.
        top = min(max(roi.y, 0), positions - 1)
        return Box(0, top, window.width, window.height)

    if front is not None and roi is not None and axis == 0 and front.wider_than(extent, roi) and grounded(roi, size):
        # A wide standing subject with a front (an animal's head): the window ends where it does.
        # Wide by its whole width (the front's grown columns): the trimmed region may fit the window.
        start = front.edge - extent if front.side == "right" else front.edge
        return Box(min(max(start, 0), positions - 1), 0, window.width, window.height)

    if profile is not None:
        cum = np.concatenate(([0.0], np.cumsum(profile)))
        mass = cum[extent:] - cum[:positions]
        best = mass[candidates].max()
        tolerance = MASS_TOLERANCE if faces else SALIENCY_TOLERANCE
        candidates &= mass >= best - tolerance * max(cum[-1], 1e-12)
    if faces:
        candidates &= _most(_containment_counts([span(e) for e in expanded], extent, positions), candidates)

    centred = place_window(window, size, roi if roi is not None else Box(0, 0, size.width, size.height))
    target = centred.x if axis == 0 else centred.y
    allowed = np.nonzero(candidates)[0]
    p = int(allowed[np.argmin(np.abs(allowed - target))])
    if axis == 0:
        return Box(p, 0, window.width, window.height)
    return Box(0, p, window.width, window.height)


def crop_for_ratio(
    size: Size,
    ratio: float,
    faces: Sequence[Box],
    saliency: np.ndarray | Importance | None,
    roi: Box | None,
    pinned: Box | None = None,
) -> Box:
    """The largest ``ratio`` box inside ``size`` keeping the most importance (or ``pinned``)."""
    return best_box(size, ratio_box_size(size, ratio), faces, saliency, roi, pinned)


def auto_ratio(size: Size, roi: Box | None) -> float:
    """The ratio used when none is requested (see the module docstring)."""
    ratio = roi.w / roi.h if roi is not None else size.ratio
    return round(min(max(ratio, AUTO_RATIO_MIN), AUTO_RATIO_MAX), 2)

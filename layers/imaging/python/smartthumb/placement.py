"""The placement rule of :func:`smartthumb.analysis.boxes.best_box`, in pure Python.

``/th?c=7`` with a sidecar must not import numpy (nor anything of
``smartthumb.analysis`` but the package): this module places a window from
what a sidecar keeps — the faces, the region of interest and the compact
importance projections (``Analysis.to_dict()["importance"]``) — by the same
rule, tier for tier, and ``tests/analysis/test_placement.py`` checks that it
returns the very box ``best_box`` returns. ``AnalysisCache.region_for`` hands
it to ``c=7`` as ``RegionHint.place``.

It also holds the one rule for a **pinned** region (a manual region, or one
the file embeds), :func:`pinned_window`, which both this module and
``best_box`` use as they are (there is no numpy twin of it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from smartthumb.geometry import Box, Size, place_window, ratio_box_size

# The values live in smartthumb.analysis.boxes; repeated here because that
# module imports numpy. test_placement.py asserts they are equal.
FACE_EXPAND_TOP = 0.5
FACE_EXPAND_BOTTOM = 0.2
FACE_EXPAND_SIDE = 0.25
FACE_INSIDE = 0.9
MASS_TOLERANCE = 0.01
GROUND_BAND = 0.2
SALIENCY_TOLERANCE = 0.0003


def _clip(x0: float, y0: float, x1: float, y1: float, size: Size) -> Box:
    left = min(max(math.floor(x0), 0), size.width - 1)
    top = min(max(math.floor(y0), 0), size.height - 1)
    right = max(min(math.ceil(x1), size.width), left + 1)
    bottom = max(min(math.ceil(y1), size.height), top + 1)
    return Box(left, top, right - left, bottom - top)


def _expand(face: Box, size: Size) -> Box:
    return _clip(
        face.x - FACE_EXPAND_SIDE * face.w,
        face.y - FACE_EXPAND_TOP * face.h,
        face.right + FACE_EXPAND_SIDE * face.w,
        face.bottom + FACE_EXPAND_BOTTOM * face.h,
        size,
    )


def _mostly(interval: tuple[int, int], window: int) -> tuple[int, int]:
    a, b = interval
    keep = (b - a) - math.floor((1.0 - FACE_INSIDE) * (b - a) + 1e-9)
    if keep > window:
        return a, b
    return b - keep, a + keep


def _counts(intervals: Sequence[tuple[int, int]], window: int, positions: int) -> list[int]:
    diff = [0] * (positions + 1)
    for a, b in intervals:
        lo, hi = max(b - window, 0), min(a, positions - 1)
        if lo <= hi:
            diff[lo] += 1
            diff[hi + 1] -= 1
    out, running = [], 0
    for d in diff[:-1]:
        running += d
        out.append(running)
    return out


def _most(counts: list[int], allowed: list[bool]) -> list[bool]:
    best = max(c for c, ok in zip(counts, allowed, strict=True) if ok)
    return [ok and c == best for c, ok in zip(counts, allowed, strict=True)]


def _cells(length: int, cells: int) -> list[int]:
    return [(i * cells) // length for i in range(length)]


def place(
    size: Size,
    window: Size,
    faces: Sequence[Box],
    importance: Mapping[str, Any] | None,
    roi: Box | None,
    pinned: Box | None = None,
) -> Box:
    """The box :func:`smartthumb.analysis.boxes.best_box` places (``importance`` as ``Importance.to_lists()``)."""
    if pinned is not None:
        return pinned_window(size, window, pinned, faces)
    if window.width < size.width:
        axis, length, extent = 0, size.width, window.width
    elif window.height < size.height:
        axis, length, extent = 1, size.height, window.height
    else:
        return Box(0, 0, size.width, size.height)
    positions = length - extent + 1

    def span(b: Box) -> tuple[int, int]:
        return (b.x, b.right) if axis == 0 else (b.y, b.bottom)

    allowed = [True] * positions
    profile: list[float] | None = None
    if faces:
        expanded = [_expand(f, size) for f in faces]
        for intervals in ([_mostly(span(f), extent) for f in faces], [span(f) for f in faces]):
            allowed = _most(_counts(intervals, extent, positions), allowed)
        diff = [0.0] * (length + 1)
        for b in expanded:
            start, end, cross = (b.x, b.right, b.h) if axis == 0 else (b.y, b.bottom, b.w)
            diff[start] += cross
            diff[end] -= cross
        profile, running = [], 0.0
        for d in diff[:-1]:
            running += d
            profile.append(running)
    elif importance is not None and roi is not None:
        if axis == 1 and roi.h > extent:
            top = min(max(roi.y, 0), positions - 1)
            return Box(0, top, window.width, window.height)
        standing = roi.y + roi.h >= (1.0 - GROUND_BAND) * size.height
        front = importance.get("front")
        # The subject's whole width (the front's grown columns; the region's in sidecars before it was kept).
        wide = int(front["width"]) if front and front.get("width") is not None else roi.w
        if axis == 0 and wide > extent and standing and front:
            start = int(front["edge"]) - extent if front["side"] == "right" else int(front["edge"])
            return Box(min(max(start, 0), positions - 1), 0, window.width, window.height)
        key = ("topColumns" if roi.w > extent and standing else "columns") if axis == 0 else "rows"
        cells = [float(v) for v in importance[key]]
        profile = [cells[c] for c in _cells(length, len(cells))]

    if profile is not None:
        cum = [0.0]
        for v in profile:
            cum.append(cum[-1] + v)
        mass = [cum[p + extent] - cum[p] for p in range(positions)]
        best_mass = max(m for m, ok in zip(mass, allowed, strict=True) if ok)
        floor = best_mass - (MASS_TOLERANCE if faces else SALIENCY_TOLERANCE) * max(cum[-1], 1e-12)
        allowed = [ok and m >= floor for m, ok in zip(mass, allowed, strict=True)]
    if faces:
        allowed = _most(_counts([span(e) for e in expanded], extent, positions), allowed)

    centred = place_window(window, size, roi if roi is not None else Box(0, 0, size.width, size.height))
    target = centred.x if axis == 0 else centred.y
    p = min((i for i, ok in enumerate(allowed) if ok), key=lambda i: abs(i - target))
    if axis == 0:
        return Box(p, 0, window.width, window.height)
    return Box(0, p, window.width, window.height)


def place_ratio(
    size: Size,
    ratio: float,
    faces: Sequence[Box],
    importance: Mapping[str, Any] | None,
    roi: Box | None,
    pinned: Box | None = None,
) -> Box:
    """The largest ``ratio`` box inside ``size``, placed by :func:`place`."""
    return place(size, ratio_box_size(size, ratio), faces, importance, roi, pinned)


def pinned_window(size: Size, window: Size, pinned: Box, faces: Sequence[Box]) -> Box:
    """Place ``window`` to keep ``pinned``, a region a person set or the file names.

    The window slides along one axis (the other is full). On that axis:

    * **the region fits**: the window holds it whole, centred on it (moved
      inside the image) -- every position that holds it is allowed, the
      centred one is chosen;
    * **it does not fit**: the window stays inside the region's span and keeps
      its most important part. Faces whose centre lies in the region (the
      detected ones, and face regions the file embeds) decide first, by the
      detected rule (:func:`place`, run on the region's span as if it were
      the image, faces clipped to it); without such faces
      a region taller than the window keeps its top (a person's head, a
      spire), one wider than the window its middle.

    Importance (saliency) is not used: the region is the person's or the
    file's statement of what matters, and saliency is not computed when an
    embedded region exists.
    """
    free = free_axis(size, window)
    if free is None:
        return Box(0, 0, size.width, size.height)
    axis, length, extent = free
    a, b = (pinned.x, pinned.right) if axis == 0 else (pinned.y, pinned.bottom)
    a, b = max(a, 0), min(b, length)

    def at(p: int) -> Box:
        return Box(p, 0, window.width, window.height) if axis == 0 else Box(0, p, window.width, window.height)

    centred = place_window(window, size, pinned)
    target = centred.x if axis == 0 else centred.y
    if b - a <= extent:
        lo, hi = max(b - extent, 0), min(a, length - extent)
        return at(min(max(target, lo), hi))
    inner = [f for f in faces if pinned.x <= f.center[0] < pinned.right and pinned.y <= f.center[1] < pinned.bottom]
    if not inner:
        return at(a if axis == 1 else min(max(target, a), b - extent))
    # The detected rule on the region's span: a sub-image [a, b) on the free axis.
    span = Size(b - a, size.height) if axis == 0 else Size(size.width, b - a)
    shifted = []
    for f in inner:
        x0, y0, x1, y1 = (f.x - a, f.y, f.right - a, f.bottom) if axis == 0 else (f.x, f.y - a, f.right, f.bottom - a)
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, span.width), min(y1, span.height)
        if x1 > x0 and y1 > y0:
            shifted.append(Box(x0, y0, x1 - x0, y1 - y0))
    inside = place(span, window, shifted, None, _union([_expand(f, span) for f in shifted]) if shifted else None)
    return at(a + (inside.x if axis == 0 else inside.y))


def free_axis(size: Size, window: Size) -> tuple[int, int, int] | None:
    """``(axis, length, extent)`` of the axis ``window`` slides along (0 = x, 1 = y),
    or ``None`` when it covers the whole image."""
    if window.width < size.width:
        return 0, size.width, window.width
    return (1, size.height, window.height) if window.height < size.height else None


def _union(boxes: Sequence[Box]) -> Box:
    x0, y0 = min(b.x for b in boxes), min(b.y for b in boxes)
    x1, y1 = max(b.right for b in boxes), max(b.bottom for b in boxes)
    return Box(x0, y0, x1 - x0, y1 - y0)

"""The placement rule of :func:`smartthumb.analysis.boxes.best_box`, in pure Python.

``/th?c=7`` with a sidecar must not import numpy (nor anything of
``smartthumb.analysis`` but the package): this module places a window from
what a sidecar keeps — the faces, the region of interest and the compact
importance projections (``Analysis.to_dict()["importance"]``) — by the same
rule, tier for tier, and ``tests/analysis/test_placement.py`` checks that it
returns the very box ``best_box`` returns. ``AnalysisCache.region_for`` hands
it to ``c=7`` as ``RegionHint.place``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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
    if b - a > window:
        return a, b
    loss = math.floor((1.0 - FACE_INSIDE) * (b - a) + 1e-9)
    return a + loss, b - loss


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
    importance: Mapping[str, Sequence[float]] | None,
    roi: Box | None,
) -> Box:
    """The box :func:`smartthumb.analysis.boxes.best_box` places (``importance`` as ``Importance.to_lists()``)."""
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

    if roi is None:
        target = (size.width - window.width) // 2 if axis == 0 else 0
    else:
        centred = place_window(window, size, roi)
        target = centred.x if axis == 0 else centred.y
    p = min((i for i, ok in enumerate(allowed) if ok), key=lambda i: abs(i - target))
    if axis == 0:
        return Box(p, 0, window.width, window.height)
    return Box(0, p, window.width, window.height)


def place_ratio(
    size: Size,
    ratio: float,
    faces: Sequence[Box],
    importance: Mapping[str, Sequence[float]] | None,
    roi: Box | None,
) -> Box:
    """The largest ``ratio`` box inside ``size``, placed by :func:`place`."""
    return place(size, ratio_box_size(size, ratio), faces, importance, roi)

"""Which end of a wide subject is its front (an animal's head), from the shape of its saliency mask.

A standing animal seen from the side is wider than most crop windows, and a
person keeps its head; U²-Net-p lights the whole animal evenly and the
detail weighting cannot tell a sharp head from a sharp, shaggy flank. The
*shape* of the salient mask can, in two ways (both pure numpy, on the
saliency grid, inside the region of interest):

1. **Cut by the frame.** The region touches one side of the image (within
   :data:`EDGE_TOUCH` of its width) and not the other: the subject goes on
   outside the frame there (a giraffe's neck entering from the edge, the back
   of an animal the photographer framed by its head), so its free end is its
   front.
2. **The end that hangs free.** Legs reach the ground, a head does not: a
   column of the region *stands* when its salient pixels reach the bottom
   :data:`STAND_BAND` of the region. Each end's *overhang* is the share of
   the region's width between that end and its nearest standing column. The
   end with the larger overhang is the front when that overhang is at least
   :data:`MIN_OVERHANG`, the other end's at most :data:`OTHER_END_MAX` of it,
   and the overhanging part is at least as detailed as the whole subject
   (its mean detail-weighted saliency over its salient pixels, against the
   region's): a head has eyes, ears and horns, while a smooth tail, or a
   second animal's back behind a lying one, does not.

Neither cue fires for a subject that touches both sides, or whose ends both
stand (a table, a car on its wheels): placement then keeps the top band, as
before (see :mod:`.boxes`). The region of interest is trimmed of a little
mass at each side, and a head at the end of a body holds little of it, so
the overhangs are measured on the region's columns grown over the salient
columns touching it (else a polar bear's or a cow's head, trimmed away, left
its body's legs at the end), and the front's *edge* is that grown end. The
same grown extent is the subject's *width*, which placement compares with
the window: a subject whose trimmed region fits the window can still be
wider than it by its head (a squirrel's ear tufts, a camel's neck).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smartthumb.geometry import Box, Size

#: A region within this share of the image's width from a side touches that side.
EDGE_TOUCH = 0.01
#: A column stands when its salient pixels reach this bottom share of the region's height.
STAND_BAND = 0.2
#: Smallest overhang (share of the region's width) that makes an end the front.
MIN_OVERHANG = 0.1
#: The other end's overhang may be at most this share of the front's.
OTHER_END_MAX = 0.5
#: The overhang's mean weight must be at least this share of the whole region's.
MIN_DETAIL = 1.0


@dataclass(frozen=True)
class Front:
    """The front end of a wide subject: ``side`` ``"left"`` or ``"right"``;
    ``edge``, the source x the subject ends at on that side (exclusive on the
    right); and ``width``, the subject's whole width in source pixels (its
    grown columns), or ``None`` in sidecars of model version 6 and before
    (placement then takes the region's width, as those versions did)."""

    side: str
    edge: int
    width: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"side": self.side, "edge": self.edge, "width": self.width}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Front:
        side = str(d["side"])
        if side not in ("left", "right"):
            raise ValueError(f"front side must be left or right, not {side!r}")
        width = d.get("width")
        return cls(side, int(d["edge"]), None if width is None else int(width))  # type: ignore[call-overload]

    def wider_than(self, extent: int, region: Box) -> bool:
        """Whether the subject is wider than a window ``extent`` wide (``region``'s width without ``width``)."""
        return (region.w if self.width is None else self.width) > extent


def _cells(roi: Box, size: Size, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region's rows ``[r0, r1)`` and columns ``[c0, c1)`` on a ``shape`` grid."""
    mh, mw = shape
    c0 = min(int(roi.x * mw / size.width), mw - 1)
    c1 = max(min(math.ceil(roi.right * mw / size.width), mw), c0 + 1)
    r0 = min(int(roi.y * mh / size.height), mh - 1)
    r1 = max(min(math.ceil(roi.bottom * mh / size.height), mh), r0 + 1)
    return r0, r1, c0, c1


def overhangs(salient: np.ndarray) -> tuple[float, float] | None:
    """Left and right overhang of a region's mask (rows x columns) as shares of
    its width, or ``None`` when no column stands."""
    height, width = salient.shape
    any_rows = salient.any(axis=0)
    lowest = np.where(any_rows, height - 1 - np.argmax(salient[::-1], axis=0), -1)
    standing = np.nonzero(lowest >= (1.0 - STAND_BAND) * height)[0]
    if len(standing) == 0:
        return None
    return standing[0] / width, (width - 1 - standing[-1]) / width


def _grown(columns: np.ndarray, c0: int, c1: int) -> tuple[int, int]:
    """Columns ``[c0, c1)`` grown over the salient ``columns`` touching them."""
    while c0 > 0 and columns[c0 - 1]:
        c0 -= 1
    while c1 < len(columns) and columns[c1]:
        c1 += 1
    return c0, c1


def front_of(salient: np.ndarray, weight: np.ndarray, roi: Box, size: Size) -> Front | None:
    """The front of the subject in ``roi`` (module docstring), or ``None``.

    ``salient`` is the saliency mask and ``weight`` the detail-weighted map,
    on the same grid.
    """
    r0, r1, c0, c1 = _cells(roi, size, salient.shape)
    c0, c1 = _grown(salient[r0:r1].any(axis=0), c0, c1)
    touches_left = roi.x <= EDGE_TOUCH * size.width
    touches_right = roi.right >= (1.0 - EDGE_TOUCH) * size.width
    if touches_left != touches_right:
        side = "right" if touches_left else "left"
    else:
        region = salient[r0:r1, c0:c1]
        ends = overhangs(region)
        if ends is None:
            return None
        left, right = ends
        side, long, short = ("right", right, left) if right > left else ("left", left, right)
        if long < MIN_OVERHANG or short > OTHER_END_MAX * long:
            return None
        n = max(round(long * (c1 - c0)), 1)
        part = slice(c1 - n, c1) if side == "right" else slice(c0, c0 + n)
        inside = weight[r0:r1, c0:c1][region]
        hanging = weight[r0:r1, part][salient[r0:r1, part]]
        if len(hanging) == 0 or hanging.mean() < MIN_DETAIL * inside.mean():
            return None
    mw = salient.shape[1]
    left_x = max(math.floor(c0 * size.width / mw), 0)
    right_x = min(math.ceil(c1 * size.width / mw), size.width)
    return Front(side, right_x if side == "right" else left_x, right_x - left_x)

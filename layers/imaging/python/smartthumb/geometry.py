"""Pure geometry: boxes, sizes and the thumbnail plan. No Pillow here.

Rounding rule (reproduces Bing's worked examples for a 474x316 original):

* A **scaled image dimension** is rounded *up* (``ceil``, after forgiving
  floating-point noise below 1e-9) and capped at the target, so a partly
  covered row or column of the source is kept rather than dropped:
  474x316 fitted into 200x200 is 200x134 (133.33 -> 134).
* A **canvas dimension derived from the other one** (only ``w`` or only ``h``
  was given and the image is smaller than asked) is rounded *down*, so the
  canvas never grows past the exact ratio: ``w=500`` gives 500x333
  (333.33 -> 333).
* **Padding** is split as whole pixels, the odd pixel going to the bottom or
  right: 333-316 = 17 rows are 8 on top and 9 below.
* **Crop boxes** take the full extent on the side that fits and round the
  other side to the nearest pixel (at least 1), so their ratio is within one
  pixel of the request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Size:
    width: int
    height: int

    @property
    def ratio(self) -> float:
        return self.width / self.height

    @property
    def area(self) -> int:
        return self.width * self.height


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned pixel box: ``x, y`` top-left, ``w, h`` extent."""

    x: int
    y: int
    w: int
    h: int

    @property
    def right(self) -> int:
        return self.x + self.w

    @property
    def bottom(self) -> int:
        return self.y + self.h

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    @property
    def area(self) -> int:
        return self.w * self.h

    def inside(self, size: Size) -> bool:
        return (
            self.x >= 0
            and self.y >= 0
            and self.w > 0
            and self.h > 0
            and self.right <= size.width
            and self.bottom <= size.height
        )

    def contains(self, other: Box) -> bool:
        return self.x <= other.x and self.y <= other.y and self.right >= other.right and self.bottom >= other.bottom

    def intersection_area(self, other: Box) -> int:
        w = min(self.right, other.right) - max(self.x, other.x)
        h = min(self.bottom, other.bottom) - max(self.y, other.y)
        return max(0, w) * max(0, h)

    def as_tuple(self) -> tuple[int, int, int, int]:
        """Pillow's ``(left, upper, right, lower)``."""
        return (self.x, self.y, self.right, self.bottom)


def scale_box(box: Box, frm: Size, to: Size) -> Box:
    """``box`` measured on an image of size ``frm``, on one of size ``to``.

    The result stays inside ``to`` and is at least one pixel each way; the
    edges round outwards-ish (floor the origin, round the far edge) so a
    region never shrinks away.
    """
    if frm == to:
        return box
    sx, sy = to.width / frm.width, to.height / frm.height
    x0 = min(max(int(box.x * sx), 0), to.width - 1)
    y0 = min(max(int(box.y * sy), 0), to.height - 1)
    x1 = max(min(round(box.right * sx), to.width), x0 + 1)
    y1 = max(min(round(box.bottom * sy), to.height), y0 + 1)
    return Box(x0, y0, x1 - x0, y1 - y0)


# ------------------------------------------------------- EXIF orientation

#: ``(x0, y0, x1, y1)`` edges of a rectangle (whole or fractional pixels).
Rect = tuple[float, float, float, float]


def oriented_size(stored: Size, orientation: int) -> Size:
    """The upright size of an image stored as ``stored`` with EXIF ``orientation``."""
    return Size(stored.height, stored.width) if orientation >= 5 else stored


def to_stored_rect(rect: Rect, stored: Size, orientation: int) -> Rect:
    """Map edges in oriented (upright) coordinates to the stored pixel grid.

    ``stored`` is the size of the pixels as encoded, before orientation. The
    one table of the EXIF orientations: :func:`from_stored_rect` is its
    inverse, :func:`smartthumb.render.stored_box` its use on crop boxes.
    """
    W, H = stored.width, stored.height
    x0, y0, x1, y1 = rect
    if orientation == 2:
        return (W - x1, y0, W - x0, y1)
    if orientation == 3:
        return (W - x1, H - y1, W - x0, H - y0)
    if orientation == 4:
        return (x0, H - y1, x1, H - y0)
    if orientation == 5:  # transpose
        return (y0, x0, y1, x1)
    if orientation == 6:  # stored rotated 90° counter-clockwise; upright x runs up the stored image
        return (y0, H - x1, y1, H - x0)
    if orientation == 7:  # transverse
        return (W - y1, H - x1, W - y0, H - x0)
    if orientation == 8:
        return (W - y1, x0, W - y0, x1)
    return rect


def from_stored_rect(rect: Rect, stored: Size, orientation: int) -> Rect:
    """Map edges in the stored pixel grid to oriented coordinates (the inverse of
    :func:`to_stored_rect`): orientations 6 and 8 undo each other, the others
    undo themselves, each measured on the frame it maps from -- the upright one."""
    inverse = {6: 8, 8: 6}.get(orientation, orientation)
    return to_stored_rect(rect, oriented_size(stored, orientation), inverse)


class CropMode(IntEnum):
    NONE = 0
    BLIND_RATIO = 4
    SMART_RATIO = 7


def ceil_px(value: float) -> int:
    """Round up, ignoring floating-point noise (133.0000000001 -> 133)."""
    return max(1, math.ceil(value - _EPS))


def floor_px(value: float) -> int:
    return max(1, math.floor(value + _EPS))


def round_px(value: float) -> int:
    """Round half up, at least 1."""
    return max(1, math.floor(value + 0.5 + _EPS))


def ratio_box_size(src: Size, ratio: float) -> Size:
    """The largest ``w:h == ratio`` box that fits in ``src``."""
    if src.ratio > ratio:  # source wider: full height
        return Size(min(src.width, round_px(src.height * ratio)), src.height)
    return Size(src.width, min(src.height, round_px(src.width / ratio)))


def blind_crop(src: Size, ratio: float) -> Box:
    """Bing's blind ratio crop (``c=4``).

    Source taller than the request (W/H < w/h): measured from the top-left
    corner, the bottom is cut. Source wider: measured from the centre, left
    and right are cut equally (an odd pixel goes to the right).
    """
    box = ratio_box_size(src, ratio)
    if src.ratio < ratio:
        return Box(0, 0, box.width, box.height)
    return Box((src.width - box.width) // 2, 0, box.width, box.height)


def place_window(window: Size, src: Size, region: Box) -> Box:
    """Centre ``window`` on ``region`` and move it inside ``src``.

    For a single region, centring keeps as much of the region as any position
    can: a window smaller than the region then lies wholly inside it.
    """
    cx, cy = region.center
    x = round(cx - window.width / 2)
    y = round(cy - window.height / 2)
    x = min(max(x, 0), src.width - window.width)
    y = min(max(y, 0), src.height - window.height)
    return Box(x, y, window.width, window.height)


def smart_crop(src: Size, ratio: float, region: Box | None) -> Box:
    """Bing's smart ratio crop (``c=7``): the largest box of ``ratio``,
    centred on the region of interest and moved inside the image; blind
    ratio when there is no region."""
    if region is None:
        return blind_crop(src, ratio)
    return place_window(ratio_box_size(src, ratio), src, region)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the renderer does: crop ``crop`` from the source, scale it to
    ``content``, paste it at ``offset`` on a ``canvas`` (equal to content when
    there is no padding)."""

    source: Size
    crop: Box
    content: Size
    canvas: Size
    offset: tuple[int, int]

    @property
    def padded(self) -> bool:
        return self.canvas != self.content


def plan_thumbnail(
    src: Size,
    width: int | None,
    height: int | None,
    crop: CropMode = CropMode.NONE,
    pad: bool = True,
    region: Box | None = None,
) -> Plan:
    """The single decision point from request to pixels.

    ``width``/``height`` are the target (already multiplied by ``dpr``);
    ``crop`` needs both. The image is never upscaled: a target larger than
    the (cropped) source is padded, or with ``pad=False`` the output is the
    source size.
    """
    if crop is not CropMode.NONE and width and height:
        ratio = width / height
        box = smart_crop(src, ratio, region) if crop is CropMode.SMART_RATIO else blind_crop(src, ratio)
    else:
        box = Box(0, 0, src.width, src.height)

    cw, ch = box.w, box.h
    scales = [1.0]
    if width:
        scales.append(width / cw)
    if height:
        scales.append(height / ch)
    scale = min(scales)

    if scale >= 1.0:
        content = Size(cw, ch)
    else:
        cont_w = width if width and width / cw == scale else min(width or cw, ceil_px(cw * scale))
        cont_h = height if height and height / ch == scale else min(height or ch, ceil_px(ch * scale))
        if crop is not CropMode.NONE and width and height:
            # The crop box has the target's ratio: fill the target exactly.
            cont_w, cont_h = width, height
        content = Size(cont_w, cont_h)

    if not pad:
        canvas = content
    elif width and height:
        canvas = Size(width, height)
    elif width:
        canvas = Size(width, max(content.height, floor_px(width * ch / cw)))
    elif height:
        canvas = Size(max(content.width, floor_px(height * cw / ch)), height)
    else:
        canvas = content
    canvas = Size(max(canvas.width, content.width), max(canvas.height, content.height))
    offset = ((canvas.width - content.width) // 2, (canvas.height - content.height) // 2)
    return Plan(source=src, crop=box, content=content, canvas=canvas, offset=offset)

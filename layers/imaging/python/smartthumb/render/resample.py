"""The resample policy: one pure decision that both decoders execute.

Given the crop (stored pixel grid), the decoded frame's size and the output
size, :func:`decide` says what to do -- nothing, a plain crop, or a resize
with which filter over which box and after which integer box-reduce -- and
:func:`draft_scale` which JPEG DCT scale to ask libjpeg for. The Pillow path
(:mod:`smartthumb.render.execute`) hands the decision to ``Image.resize``;
the libspng path (:mod:`smartthumb.render.png_spng`) performs the same
reduce strip by strip, then the same filter, so both give the same pixels.
Nothing here touches pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from PIL import Image

#: Final resample filter. LANCZOS is the sharpest of Pillow's filters without
#: ringing artefacts worth mentioning at thumbnail sizes.
RESAMPLE = Image.Resampling.LANCZOS
#: Filter for a *small* final shrink (less than ``SMALL_SHRINK``), which is what
#: is left after a JPEG's DCT draft for large outputs (e.g. 12 MP -> 1200x800
#: decodes at 1/2 and shrinks 1.9x). Measured against a full-decode LANCZOS
#: reference on noisy 12/24 MP photos: BICUBIC is 50.9 dB PSNR where LANCZOS
#: is 52.9 dB and pyvips's thumbnail 48.6 dB, at about 2/3 of LANCZOS's cost
#: (24 MP -> 1200x800 after a 1/4 draft: 48.8 dB; pyvips decodes that one at
#: 1/2 and reaches 54.3 dB, at about the same speed as this path).
RESAMPLE_SMALL_SHRINK = Image.Resampling.BICUBIC
SMALL_SHRINK = 2.0
#: ``resize(reducing_gap=...)``: box-reduce by an integer factor first, so that
#: the final LANCZOS step shrinks by at least this much. Pillow documents 3.0
#: as indistinguishable from a plain resize; smaller is faster. Measured
#: against a plain LANCZOS resize of a noisy 12 MP PNG: 1.8 gives 52.7 dB PSNR
#: at 1067x800 (2.5x faster than 2.5, which does not reduce there at all) and
#: 51 dB at 200x150; after a JPEG draft at 1/8 (24 MP -> 200 px) 50.9 dB, where
#: pyvips's own thumbnail is 45.7 dB from the same reference.
REDUCING_GAP = 1.8
#: The JPEG DCT draft must leave the crop at least this many times the output
#: size. 1.0 lets libjpeg do as much of the shrink as possible (its scaled IDCT
#: is a proper low-pass, not a nearest-neighbour skip); the remaining LANCZOS
#: step is then always a shrink of 1x..2x (more at the 1/8 limit).
DRAFT_MARGIN = 1.0

Crop = tuple[int, int, int, int]
FloatBox = tuple[float, float, float, float]


class Action(Enum):
    NOTHING = "nothing"  # the decoded frame is the output
    CROP = "crop"  # cut ``crop`` out, no filter (no blur)
    RESIZE = "resize"  # box-reduce by ``reduce``, then ``filter`` over ``box``


@dataclass(frozen=True, slots=True)
class Resample:
    """What to do with a decoded frame to get the output pixels."""

    action: Action
    crop: Crop  # the crop in the stored grid (for CROP)
    box: FloatBox  # the crop in the decoded frame's coordinates (for RESIZE)
    out: tuple[int, int]
    filter: Image.Resampling | None = None
    #: Integer box-reduce factors (x, y) before the filter: what
    #: ``Image.resize(..., reducing_gap=REDUCING_GAP)`` applies itself.
    reduce: tuple[int, int] = (1, 1)


def draft_scale(crop_w: int, crop_h: int, out_w: int, out_h: int) -> int:
    """The largest JPEG DCT scale (8, 4, 2 or 1) whose crop still covers the output."""
    for s in (8, 4, 2):
        if crop_w / s >= out_w * DRAFT_MARGIN and crop_h / s >= out_h * DRAFT_MARGIN:
            return s
    return 1


def decide(crop: Crop, decoded: tuple[int, int], scale: int, out: tuple[int, int]) -> Resample:
    """The resample step for a frame of size ``decoded``, decoded at 1/``scale``.

    ``crop`` is in the stored grid (it is divided by ``scale`` and clipped to
    the frame for the resize box); ``out`` is the stored-orientation output size.
    """
    width, height = decoded
    out_w, out_h = out
    box = (
        min(crop[0] / scale, width),
        min(crop[1] / scale, height),
        min(crop[2] / scale, width),
        min(crop[3] / scale, height),
    )
    if out == decoded and box == (0, 0, width, height):
        return Resample(Action.NOTHING, crop, box, out)
    if out == (crop[2] - crop[0], crop[3] - crop[1]) and scale == 1:
        return Resample(Action.CROP, crop, box, out)
    box_w, box_h = box[2] - box[0], box[3] - box[1]
    shrink = max(box_w / out_w, box_h / out_h)
    resample = RESAMPLE_SMALL_SHRINK if shrink < SMALL_SHRINK else RESAMPLE
    # Image.resize's own reducing_gap arithmetic, so a caller reducing by hand matches it.
    reduce = (int(box_w / out_w / REDUCING_GAP) or 1, int(box_h / out_h / REDUCING_GAP) or 1)
    return Resample(Action.RESIZE, crop, box, out, resample, reduce)

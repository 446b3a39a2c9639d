"""Memory a decode will take, from the container facts, against the function's memory.

The pixel limit bounds width x height, not the bytes a decoder holds for
them. Two figures per source:

* **Fixed**, whatever the output size: libjpeg keeps the whole image's DCT
  coefficients (2 bytes per sample, every component at its own sampling,
  padded to whole MCUs) for a progressive or multi-scan JPEG, and ``draft``
  does not shrink that buffer: a 1.5 MB 100 Mpx progressive CMYK file took
  806 MB for ``w=100``.
* **Per decoded pixel**: what the decoded frame and Pillow's working copies
  take. A JPEG decodes at its draft scale (1/8..1/1) into 4 bytes per pixel
  (RGB, CMYK) or 1 (L); an 8-bit PNG without palette, tRNS or interlacing is
  read by libspng in strips (almost nothing); every other PNG, and GIF,
  TIFF, BMP, go through Pillow's whole-frame decode (measured at 16 Mpx:
  16-bit RGBA PNG 7.7 bytes per pixel, palette GIF 4.8, 1-bit PNG 1.9).

The budget is the function's memory (``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``)
less :attr:`~smartthumb.config.Settings.memory_reserve_mb`, what a warm
handler process holds before a decode (runtime, Pillow, boto3 and, for
``c=7`` and the analysis, the ONNX models).
"""

from __future__ import annotations

import math

from smartthumb.errors import SourceTooLarge
from smartthumb.structure.facts import Facts

MB = 2**20
#: Decoded pixel plus working copies, by format, for the whole-frame (Pillow) path.
BYTES_PER_PIXEL = {"PNG": 8.0, "GIF": 6.0, "TIFF": 8.0, "BMP": 8.0}
#: A JPEG's decoded frame is resampled once more (the reduce + LANCZOS step).
JPEG_COPIES = 1.5
#: The libspng strip path holds a few rows plus the reduced output.
STRIP_BYTES = 16 * MB


def jpeg_coefficient_bytes(facts: Facts) -> int:
    """libjpeg's whole-image coefficient buffer (0 for a single-scan baseline JPEG)."""
    if not facts.buffered or not facts.components:
        return 0
    h_max = max(c.h for c in facts.components)
    v_max = max(c.v for c in facts.components)
    mcus_x = math.ceil(facts.width / (8 * h_max))
    mcus_y = math.ceil(facts.height / (8 * v_max))
    blocks = sum(mcus_x * c.h * mcus_y * c.v for c in facts.components)
    return blocks * 64 * 2


def _png_strips(facts: Facts) -> bool:
    plain = not (facts.palette or facts.interlaced or facts.transparency)
    return facts.bits == 8 and plain and facts.frames == 1


def decode_bytes(facts: Facts, scale: int = 1) -> int:
    """Peak bytes decoding ``facts`` at a 1/``scale`` draft (JPEG only) will add."""
    if facts.format == "JPEG":
        w, h = math.ceil(facts.width / scale), math.ceil(facts.height / scale)
        per_pixel = 4 if facts.channels >= 3 else 1
        return jpeg_coefficient_bytes(facts) + int(w * h * per_pixel * JPEG_COPIES)
    if facts.format == "PNG" and _png_strips(facts):
        return STRIP_BYTES
    per_pixel = BYTES_PER_PIXEL.get(facts.format)
    return 0 if per_pixel is None else int(facts.pixels * per_pixel)


def budget_bytes(function_memory_mb: int, reserve_mb: int) -> int:
    return max(0, function_memory_mb - reserve_mb) * MB


def require(facts: Facts, budget: int, scale: int = 1) -> None:
    """Raise :class:`SourceTooLarge` (413) when the decode would not fit ``budget`` bytes."""
    need = decode_bytes(facts, scale)
    if need > budget:
        raise SourceTooLarge(
            f"decoding the source would take about {need // MB} MB, over the {budget // MB} MB this function has for it"
        )

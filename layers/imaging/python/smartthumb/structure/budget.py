"""Memory and CPU a decode will take, from the container facts, against the function's.

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

**CPU.** The pixel and memory limits let a genuine 100 Mpx progressive JPEG
through to a 2,048 MB function, and its decode costs 1.5-1.7 s of CPU
whatever ``draft`` does: libjpeg entropy-decodes every coefficient of every
scan before the scaled IDCT. :func:`decode_cpu_ms` estimates a decode's CPU
from the header and the file size, by a linear model per decode path fitted
on genuine files (``tests/hardening/measure_decode_cpu.py``; constants
rounded up; on this shared 2-core machine the measured decodes land within
about 15 % of the estimate either way, as the load varies), and
:func:`require_cpu` refuses (413) above ``MAX_DECODE_CPU_MS`` (1000 ms by
default, which leaves the rest of an AnalyzeFunction call, the models and
S3, room under 2 s):

* JPEG: ``0.9 ms`` per MB of the coefficient buffer (progressive or
  multi-scan only) + ``1.2 ms`` per Mpx + per MiB of file ``35 ms``
  (progressive: refinement scans decode bit by bit) or ``12 ms`` (baseline);
* PNG: per MB of inflated rows, ``3.3 ms`` (libspng strips), ``3.7 ms``
  (Pillow's whole frame: 16-bit, palette, tRNS) or ``4.5 ms`` (interlaced),
  the worst case (zero rows); the content cannot be known from the header;
* GIF, TIFF, WebP, HEIC, AVIF: per Mpx plus per MiB of file
  (:data:`OTHER_MS`), fitted on a flat frame (the per-Mpx floor: the worst
  case per pixel) and a textured one (what each MiB of coded data adds),
  the whole ``/th`` call measured; WebP by kind (lossy, lossless, alpha:
  Pillow decodes every WebP to RGBA through libwebp's animation decoder);
  the first frame of an animation (:func:`animation_cpu_ms` counts every
  frame, for the decision to keep an animation animated);
* BMP: not estimated (0): uncompressed pixels are bounded by the file size
  (50 MiB: 16 Mpx, 160 ms measured) and RLE by the structure limit.
"""

from __future__ import annotations

import math

from smartthumb.errors import SourceTooLarge
from smartthumb.structure.facts import Facts

MB = 2**20
#: Decoded pixel plus working copies, by format, for the whole-frame (Pillow) path. WebP: an RGBA
#: frame from libwebp, copied into Pillow and converted (peaks 15.6-18.9 measured); HEIC 6.6-7.7, AVIF 8.0-9.4
#: (``tests/hardening/measure_other_cpu.py``).
BYTES_PER_PIXEL = {"PNG": 8.0, "GIF": 6.0, "TIFF": 8.0, "BMP": 8.0, "WEBP": 20.0, "HEIF": 8.0, "AVIF": 10.0}
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
    return 0 if per_pixel is None else int(facts.decoded_pixels * per_pixel)


def budget_bytes(function_memory_mb: int, reserve_mb: int) -> int:
    return max(0, function_memory_mb - reserve_mb) * MB


def require(facts: Facts, budget: int, scale: int = 1) -> None:
    """Raise :class:`SourceTooLarge` (413) when the decode would not fit ``budget`` bytes."""
    need = decode_bytes(facts, scale)
    if need > budget:
        raise SourceTooLarge(
            f"decoding the source would take about {need // MB} MB, over the {budget // MB} MB this function has for it"
        )


#: CPU model constants (ms), measured here and rounded up (see the module docstring).
JPEG_MS_PER_COEFFICIENT_MB = 0.9
JPEG_MS_PER_MPX = 1.2
JPEG_PROGRESSIVE_MS_PER_MIB = 35.0
JPEG_BASELINE_MS_PER_MIB = 12.0
#: PNG, per MB of inflated rows: zero-filled rows, the slowest to inflate (zlib copies a distance-1
#: match byte by byte), measured 3.1 (libspng strips), 3.5 (Pillow, 16-bit) and 4.1 (interlaced).
PNG_MS_PER_ROW_MB = {"strips": 3.3, "whole": 3.7, "interlaced": 4.5}
#: (ms per Mpx, ms per MiB of file), the whole ``/th`` call measured (``tests/hardening/measure_other_cpu.py``),
#: rounded up ~15 %: per Mpx the flat frames' worst (up to 67 Mpx; WebP at 25, 50 and 100 Mpx, linear on a
#: quiet machine), per MiB what a textured 16 Mpx frame adds over that.
OTHER_MS: dict[str, tuple[float, float]] = {
    "GIF": (11.0, 12.0),  # flat 100 Mpx re-measured 629-982 ms, 25 Mpx 156-264
    "TIFF": (14.0, 10.0),
    "WEBP lossy": (19.0, 75.0),
    "WEBP lossless": (19.0, 15.0),
    "WEBP lossy alpha": (35.0, 100.0),
    "WEBP lossless alpha": (28.0, 16.0),
    "AVIF": (19.0, 95.0),
    "HEIF": (29.0, 150.0),
}


def png_row_bytes(facts: Facts) -> int:
    """The inflated size of a PNG's image data: every row's filter byte and samples."""
    row = 1 + math.ceil(facts.width * facts.channels * facts.bits / 8)
    return facts.height * row * max(1, facts.frames)


def decode_cpu_ms(facts: Facts, size_bytes: int) -> int:
    """Estimated CPU milliseconds to decode ``facts`` (a file of ``size_bytes``); 0 when not modelled."""
    mib = size_bytes / MB
    if facts.format == "JPEG":
        coefficients = jpeg_coefficient_bytes(facts)
        per_mib = JPEG_PROGRESSIVE_MS_PER_MIB if coefficients else JPEG_BASELINE_MS_PER_MIB
        ms = coefficients / MB * JPEG_MS_PER_COEFFICIENT_MB + facts.pixels / 1e6 * JPEG_MS_PER_MPX
        return int(ms + mib * per_mib)
    if facts.format == "PNG":
        path = "interlaced" if facts.interlaced else "strips" if _png_strips(facts) else "whole"
        return int(png_row_bytes(facts) / MB * PNG_MS_PER_ROW_MB[path])
    return _other_ms(facts, 1, size_bytes)


def animation_cpu_ms(facts: Facts, frames: int, size_bytes: int) -> int:
    """Estimated CPU milliseconds to decode every one of ``frames`` frames of an animated GIF or WebP
    (Pillow composites each at the full canvas): the per-Mpx rate for every frame, the per-MiB rate
    once; 0 when not modelled."""
    return _other_ms(facts, frames, size_bytes) if facts.format in ("GIF", "WEBP") else 0


def _other_ms(facts: Facts, frames: int, size_bytes: int) -> int:
    """:data:`OTHER_MS`'s model for ``frames`` frames of ``facts`` in a file of ``size_bytes``; 0 when not modelled."""
    per = OTHER_MS.get(_kind(facts))
    return 0 if per is None else int(frames * facts.decoded_pixels / 1e6 * per[0] + size_bytes / MB * per[1])


def _kind(facts: Facts) -> str:
    """The :data:`OTHER_MS` key: the format, and for WebP its kind."""
    if facts.format != "WEBP":
        return facts.format
    return "WEBP " + ("lossless" if facts.lossless else "lossy") + (" alpha" if facts.channels == 4 else "")


def require_cpu(facts: Facts, size_bytes: int, budget_ms: int) -> None:
    """Raise :class:`SourceTooLarge` (413) when the decode is estimated over ``budget_ms`` of CPU."""
    need = decode_cpu_ms(facts, size_bytes)
    if need > budget_ms:
        raise SourceTooLarge(
            f"decoding the source would take about {need} ms of CPU, over the {budget_ms} ms budget (MAX_DECODE_CPU_MS)"
        )

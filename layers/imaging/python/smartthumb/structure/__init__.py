"""Container structure, read from the bytes before any decoder sees them.

:func:`scan` recognises JPEG, PNG, GIF, TIFF and BMP by their signatures and
walks their structure (markers, chunks, blocks, IFDs) with early stops, so
the counts that cost Pillow minutes of CPU or gigabytes of memory (metadata
floods, IFD chains, RLE bitmaps) are refused with a 413 in milliseconds; then
:mod:`~smartthumb.structure.budget` checks what the decode will take against
the function's memory and the CPU budget. WebP's chunks are read for its
size and kind (lossless, alpha), which set its decode's cost; HEIC and AVIF
take their size from their own box walk (:mod:`smartthumb.heif_header`,
which the HEIF opener runs again and whose refusals it answers). Anything
else is passed through: ``Facts.format == ""``, and the decoder's own
header checks decide.

Pure: no Pillow, no I/O. The limits are in :mod:`smartthumb.structure.facts`.
"""

from __future__ import annotations

from smartthumb import heif_header
from smartthumb.config import Settings
from smartthumb.errors import ThumbError
from smartthumb.structure import bmp, gif, jpeg, png, tiff, webp
from smartthumb.structure.budget import (
    animation_cpu_ms,
    budget_bytes,
    decode_bytes,
    decode_cpu_ms,
    require,
    require_cpu,
)
from smartthumb.structure.facts import Facts


def scan(data: bytes, frame_limit: int) -> Facts:
    """The container facts of ``data``; raises :class:`~smartthumb.errors.SourceTooLarge`
    on a count over its limit. Unknown containers give ``Facts(format="")``."""
    head = data[:8]
    if head[:3] == b"\xff\xd8\xff":
        return jpeg.scan(data)
    if head == b"\x89PNG\r\n\x1a\n":
        return png.scan(data, frame_limit)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return gif.scan(data, frame_limit)
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return tiff.scan(data, frame_limit)
    if head[:2] == b"BM":
        return bmp.scan(data)
    if head[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return webp.scan(data)
    kind = heif_header.sniff(data)
    if kind is not None:
        try:
            header = heif_header.scan(data, max_pixels=2**62)  # the pixel limit is the opener's
        except ThumbError:
            return Facts()  # malformed: the HEIF opener refuses it with its own 4xx
        return Facts(format=kind, width=header.width, height=header.height, coded_pixels=header.coded_pixels)
    return Facts()


def check(data: bytes, settings: Settings) -> Facts:
    """Scan ``data`` before any decoder reads it: a count over its limit is a 413."""
    return scan(data, settings.max_animation_frames)


def check_memory(facts: Facts, settings: Settings) -> None:
    """Refuse (413) a decode that would not fit the function's memory even at
    the smallest draft scale. Called once the decoder has accepted the header
    (a junk header is a 415, not a memory estimate); the decode step re-checks
    at the real scale."""
    if facts.format:
        require(facts, decode_budget(settings), scale=8 if facts.format == "JPEG" else 1)


def check_cpu(facts: Facts, size_bytes: int, settings: Settings) -> None:
    """Refuse (413) a decode estimated over ``MAX_DECODE_CPU_MS`` of CPU (0: no limit)."""
    if facts.format and settings.max_decode_cpu_ms > 0:
        require_cpu(facts, size_bytes, settings.max_decode_cpu_ms)


def decode_budget(settings: Settings) -> int:
    """Bytes a decode may add: the function's memory less the warm process's reserve."""
    return budget_bytes(settings.function_memory_mb, settings.memory_reserve_mb)


__all__ = [
    "Facts",
    "animation_cpu_ms",
    "check",
    "check_cpu",
    "check_memory",
    "decode_budget",
    "decode_bytes",
    "decode_cpu_ms",
    "require",
    "scan",
]

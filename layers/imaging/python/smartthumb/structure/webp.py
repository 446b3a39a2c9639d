"""WebP: the canvas size, alpha and lossless flags from the RIFF chunks, without decoding.

Pillow decodes every WebP through libwebp's animation decoder into a full
RGBA frame and copies it (15.6-18.9 bytes per pixel at its peak here); an
alpha frame costs about twice an opaque one per pixel, and a MiB of lossy
data about five times a MiB of lossless, so the memory and CPU budgets need
to know which (``structure.budget.OTHER_MS``). Three layouts (Google's "WebP
Container Specification"): a simple lossy file (``VP8 `` chunk: the frame
header holds 14-bit width and height), a simple lossless one (``VP8L``: 14-bit
width - 1 and height - 1 and an alpha bit, packed after its signature byte)
and the extended one (``VP8X``: flags with alpha and animation bits, 24-bit
canvas width - 1 and height - 1; the image chunk follows, or ``ANMF`` frames
that hold one each). A malformed file just leaves what was learnt; libwebp
judges it later.
"""

from __future__ import annotations

import struct

from smartthumb.structure.facts import Facts

#: Top-level chunks looked at to find the first image (VP8X, ICCP, ANIM and
#: the first ANMF or image chunk come first in a well-formed file).
MAX_CHUNKS = 64
_ALPHA_FLAG = 0x10


def _image_chunk(data: bytes, pos: int, end: int, in_frame: bool = False) -> tuple[bytes, int] | None:
    """The first ``VP8 `` / ``VP8L`` chunk (FourCC, payload offset) from ``pos``, looking inside the
    first ANMF (one level: a forged frame inside a frame is skipped, not followed)."""
    for _ in range(MAX_CHUNKS):
        if pos + 8 > end:
            return None
        fourcc = data[pos : pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc, pos + 8
        if fourcc == b"ANMF" and not in_frame:  # 16 bytes of frame header, then the frame's own chunks
            return _image_chunk(data, pos + 24, min(pos + 8 + size, end), in_frame=True)
        pos += 8 + size + (size & 1)
    return None


def scan(data: bytes) -> Facts:
    facts = Facts(format="WEBP")
    end = len(data)
    if end < 30:
        return facts
    first = data[12:16]
    if first == b"VP8X":
        flags = data[20]
        facts.width = 1 + int.from_bytes(data[24:27], "little")
        facts.height = 1 + int.from_bytes(data[27:30], "little")
        facts.channels = 4 if flags & _ALPHA_FLAG else 3
        found = _image_chunk(data, 30 + (struct.unpack_from("<I", data, 16)[0] - 10), end)
        facts.lossless = found is not None and found[0] == b"VP8L"
    elif first == b"VP8L":
        bits = struct.unpack_from("<I", data, 21)[0]
        facts.width = 1 + (bits & 0x3FFF)
        facts.height = 1 + ((bits >> 14) & 0x3FFF)
        facts.channels = 4 if (bits >> 28) & 1 else 3
        facts.lossless = True
    elif first == b"VP8 ":
        w, h = struct.unpack_from("<HH", data, 26)
        facts.width, facts.height = w & 0x3FFF, h & 0x3FFF
    return facts

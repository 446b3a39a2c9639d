"""PNG: walk the chunks (length, type, payload, CRC) without inflating anything.

Pillow reads every chunk in Python and keeps each private one
(``private_chunks``); the walk counts them and stops at the first count over
its limit. The IHDR gives size, bit depth, colour type and interlacing, which
decide the decode path (libspng strips or Pillow's whole-frame decode).
"""

from __future__ import annotations

from smartthumb.structure.facts import MAX_PNG_CHUNKS, MAX_PNG_METADATA_CHUNKS, Facts, too_many

_DATA = frozenset([b"IDAT", b"fdAT"])
#: Samples per pixel by IHDR colour type.
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def scan(data: bytes, frame_limit: int) -> Facts:
    facts = Facts(format="PNG")
    n = len(data)
    pos = 8
    chunks = metadata = frames = 0
    while pos + 8 <= n:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise too_many("PNG chunks", MAX_PNG_CHUNKS)
        if kind == b"IHDR" and pos + 21 <= n:
            facts.width = int.from_bytes(data[pos + 8 : pos + 12], "big")
            facts.height = int.from_bytes(data[pos + 12 : pos + 16], "big")
            facts.bits = data[pos + 16]
            colour = data[pos + 17]
            facts.channels = _CHANNELS.get(colour, 4)
            facts.palette = colour == 3
            facts.interlaced = data[pos + 20] == 1
        elif kind == b"fcTL":
            frames += 1
            if frames > frame_limit:
                raise too_many("frames", frame_limit)
        elif kind == b"IEND":
            break
        elif kind == b"tRNS":
            facts.transparency = True
            metadata += 1
        elif kind not in _DATA:
            metadata += 1
            if metadata > MAX_PNG_METADATA_CHUNKS:
                raise too_many("PNG metadata chunks", MAX_PNG_METADATA_CHUNKS)
        pos += 12 + length
    facts.frames = max(1, frames)
    facts.counts = {"chunks": chunks, "metadata": metadata, "frames": frames}
    return facts

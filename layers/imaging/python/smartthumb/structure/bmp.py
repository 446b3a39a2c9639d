"""BMP: the info header's size, bit count and compression.

RLE4/RLE8 bitmaps are decoded by Pillow in pure Python (``BmpRleDecoder``):
a 41 kB 100 Mpx RLE8 file took 14-15 s here, past the function's timeout on
a Lambda's share of a core. They are refused above ``MAX_RLE_PIXELS``.
"""

from __future__ import annotations

import struct

from smartthumb.structure.facts import MAX_RLE_PIXELS, Facts, too_many

_RLE8, _RLE4 = 1, 2


def scan(data: bytes) -> Facts:
    facts = Facts(format="BMP")
    if len(data) < 30:
        return facts
    header = struct.unpack_from("<I", data, 14)[0]
    if header == 12:  # OS/2 BITMAPCOREHEADER: no compression field
        w, h, _, bits = struct.unpack_from("<HHHH", data, 18)
        compression = 0
    elif len(data) >= 34:
        w, h, _, bits, compression = struct.unpack_from("<iiHHI", data, 18)
    else:
        return facts
    facts.width, facts.height, facts.bits = abs(w), abs(h), bits
    facts.channels = 4 if bits == 32 else 3
    facts.rle = compression in (_RLE8, _RLE4)
    if facts.rle and facts.pixels > MAX_RLE_PIXELS:
        raise too_many("pixels in a run-length-encoded BMP", MAX_RLE_PIXELS)
    return facts

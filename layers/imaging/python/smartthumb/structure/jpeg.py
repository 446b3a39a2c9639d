"""JPEG: walk the marker segments up to the first scan, as Pillow's reader does.

Pillow's ``JpegImageFile._open`` handles every marker before the first scan
in Python and keeps each APPn/COM payload; libjpeg then reads the scans. The
walk here mirrors that loop (junk bytes, FF fill, stand-alone markers,
length-prefixed segments) but jumps over runs with ``bytes.find`` and stops
at the first count over its limit. A truncated or malformed header just ends
the walk: Pillow judges it (415).
"""

from __future__ import annotations

import re

from smartthumb.structure.facts import (
    MAX_JPEG_HEADER_MARKERS,
    MAX_JPEG_JUNK_BYTES,
    MAX_JPEG_METADATA_SEGMENTS,
    Facts,
    JpegComponent,
    too_many,
)

_FILL = re.compile(rb"\xff+")
#: Markers without a length: TEM, RSTn, SOI, EOI, JPG (Pillow reads no length for these).
_STANDALONE = frozenset([0x01, 0xC8, *range(0xD0, 0xDA)])
#: Start-of-frame markers Pillow reads (not DHT C4, JPG C8, DAC CC).
_SOF = frozenset([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF])
_PROGRESSIVE = frozenset([0xC2, 0xC6, 0xCA, 0xCE])
_SOS = 0xDA


def _sof(facts: Facts, data: bytes, at: int, marker: int) -> None:
    """Read precision, size and components of a SOF segment whose payload starts at ``at``."""
    if at + 6 > len(data):
        return
    facts.bits = data[at]
    facts.height = int.from_bytes(data[at + 1 : at + 3], "big")
    facts.width = int.from_bytes(data[at + 3 : at + 5], "big")
    n = data[at + 5]
    comps = []
    for k in range(n):
        off = at + 6 + 3 * k
        if off + 3 > len(data):
            break
        sampling = data[off + 1]
        comps.append(JpegComponent(max(1, sampling >> 4), max(1, sampling & 15)))
    facts.channels = n
    facts.components = tuple(comps)
    facts.buffered = facts.buffered or marker in _PROGRESSIVE


def scan(data: bytes) -> Facts:
    facts = Facts(format="JPEG")
    n = len(data)
    pos = 2
    markers = metadata = junk = 0
    sos = -1
    while pos < n:
        if data[pos] != 0xFF:
            nxt = data.find(b"\xff", pos)
            if nxt < 0:
                break
            junk += nxt - pos
            pos = nxt
        else:
            fill = _FILL.match(data, pos)
            assert fill is not None
            junk += fill.end() - pos - 1
            pos = fill.end()
            if pos >= n:
                break
            marker = data[pos]
            pos += 1
            if marker == 0x00:  # an escaped FF: Pillow skips it
                junk += 2
            else:
                markers += 1
                if markers > MAX_JPEG_HEADER_MARKERS:
                    raise too_many("JPEG header markers", MAX_JPEG_HEADER_MARKERS)
                if marker == _SOS:
                    sos = pos - 2
                    break
                if marker not in _STANDALONE:
                    if pos + 2 > n:
                        break
                    length = int.from_bytes(data[pos : pos + 2], "big")
                    if 0xE0 <= marker <= 0xEF or marker == 0xFE:
                        metadata += 1
                        if metadata > MAX_JPEG_METADATA_SEGMENTS:
                            raise too_many("JPEG APPn/COM segments", MAX_JPEG_METADATA_SEGMENTS)
                    elif marker in _SOF:
                        _sof(facts, data, pos + 2, marker)
                    pos += max(2, length)
        if junk > MAX_JPEG_JUNK_BYTES:
            raise too_many("bytes of junk between JPEG markers", MAX_JPEG_JUNK_BYTES)
    # Scans after the header (an EXIF thumbnail's scans sit inside APP1, before it).
    scans = data.count(b"\xff\xda", sos) if sos >= 0 else 0
    facts.buffered = facts.buffered or scans > 1
    facts.counts = {"markers": markers, "metadata": metadata, "junk": junk, "scans": scans}
    return facts

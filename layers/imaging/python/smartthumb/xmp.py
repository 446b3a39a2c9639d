"""XMP packets found in image bytes, and a hardened parse of them. No Pillow here.

XMP is XML from an untrusted upload, so every step is bounded before the
parser sees a byte:

* **Where a packet is looked for:** JPEG ``APP1`` segments (the standard
  packet, ``http://ns.adobe.com/xap/1.0/``, and Extended XMP,
  ``http://ns.adobe.com/xmp/extension/``, reassembled from its chunks when
  the standard packet names its GUID in ``xmpNote:HasExtendedXMP``), the PNG
  ``iTXt`` chunk with keyword ``XML:com.adobe.xmp`` (inflated with a bounded
  output when it is compressed) and the WebP ``XMP `` chunk. Container walks
  stop after a fixed number of segments or chunks.
* **How big a packet may be:** :data:`MAX_PACKET_BYTES`. A larger packet (or
  an Extended XMP whose declared length is larger) is skipped unread.
* **How it is parsed:** with :mod:`defusedxml`, refusing any DTD, entity
  declaration or external reference (XMP has no use for them; a packet that
  has one is an attack or garbage), incrementally, stopping as soon as the
  tree is deeper than :data:`MAX_DEPTH` or has more than
  :data:`MAX_ELEMENTS` elements.

Anything refused or malformed is "no XMP" (``None``), logged at info level:
metadata is a hint for the crop, never a reason to refuse an image.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import zlib
from dataclasses import dataclass
from xml.etree.ElementTree import Element

log = logging.getLogger("smartthumb.xmp")

#: Largest XMP packet (standard or reassembled extended) that is parsed. A
#: JPEG's standard packet fits one APP1 segment (at most 65 502 bytes);
#: whatever does not fit goes to Extended XMP, also bounded by this.
MAX_PACKET_BYTES = 1024 * 1024
#: Deepest element nesting accepted. The region packets of tests/xmp_builders.py
#: are 9 (MWG) to 12 (IPTC polygon) elements deep.
MAX_DEPTH = 32
#: Most elements in one packet.
MAX_ELEMENTS = 50_000
#: Most JPEG segments, PNG chunks or WebP chunks walked looking for XMP.
MAX_SEGMENTS = 4096
MAX_PNG_CHUNKS = 200_000

JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
JPEG_EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: iTXt bytes besides the text: flags, language tag and translated keyword.
_ITXT_HEADER = 1024

_GUID = re.compile(rb"HasExtendedXMP\s*=\s*[\"']([0-9A-Fa-f]{32})[\"']|HasExtendedXMP>\s*([0-9A-Fa-f]{32})\s*<")


class XmpRefused(ValueError):
    """The packet is over a limit or is not plain, well-formed XML."""


@dataclass(frozen=True, slots=True)
class XmpPackets:
    """The raw packets of one image: the standard one and, if any, the extended one."""

    main: bytes | None = None
    extended: bytes | None = None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(p for p in (self.main, self.extended) if p)


# --------------------------------------------------------------- containers


def find_packets(data: bytes) -> XmpPackets:
    """The XMP packets embedded in a JPEG, PNG or WebP file (empty for others)."""
    if data[:2] == b"\xff\xd8":
        return _jpeg_packets(data)
    if data[:8] == PNG_SIGNATURE:
        return XmpPackets(main=_png_packet(data))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return XmpPackets(main=_webp_packet(data))
    return XmpPackets()


def _jpeg_packets(data: bytes) -> XmpPackets:
    main: bytes | None = None
    chunks: dict[bytes, list[tuple[int, int, bytes]]] = {}
    pos, n = 2, len(data)
    for _ in range(MAX_SEGMENTS):
        while pos < n and data[pos] == 0xFF and pos + 1 < n and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > n or data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no metadata past here
            break
        if 0xD0 <= marker <= 0xD7 or marker in (0x01, 0xD8):
            pos += 2  # standalone markers carry no length
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            break
        body = data[pos + 4 : pos + 2 + length]
        pos += 2 + length
        if marker != 0xE1:
            continue
        if body.startswith(JPEG_XMP) and main is None:
            main = body[len(JPEG_XMP) :]
        elif body.startswith(JPEG_EXTENDED_XMP):
            rest = body[len(JPEG_EXTENDED_XMP) :]
            if len(rest) < 40:
                continue
            guid, (full, offset) = rest[:32], struct.unpack(">II", rest[32:40])
            chunks.setdefault(guid.upper(), []).append((full, offset, rest[40:]))
    if main is not None and len(main) > MAX_PACKET_BYTES:
        log.info("XMP packet of %d bytes skipped (limit %d)", len(main), MAX_PACKET_BYTES)
        main = None
    return XmpPackets(main=main, extended=_extended(main, chunks))


def _extended(main: bytes | None, chunks: dict[bytes, list[tuple[int, int, bytes]]]) -> bytes | None:
    """Reassemble the Extended XMP the standard packet names, if complete and within the limit."""
    if main is None or not chunks:
        return None
    found = _GUID.search(main)
    if not found:
        return None
    parts = chunks.get((found.group(1) or found.group(2)).upper())
    if not parts:
        return None
    full = parts[0][0]
    if full > MAX_PACKET_BYTES or any(p[0] != full for p in parts):
        log.info("Extended XMP of %d bytes skipped (limit %d, or inconsistent chunks)", full, MAX_PACKET_BYTES)
        return None
    out = bytearray(full)
    covered = 0
    for _, offset, piece in sorted(parts, key=lambda p: p[1]):
        if offset != covered or offset + len(piece) > full:
            return None  # a gap, an overlap or a chunk past the end: not a packet we can trust
        out[offset : offset + len(piece)] = piece
        covered += len(piece)
    return bytes(out) if covered == full else None


def _png_packet(data: bytes) -> bytes | None:
    pos, n = 8, len(data)
    for _ in range(MAX_PNG_CHUNKS):
        if pos + 8 > n:
            return None
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if kind == b"IEND" or end > n:
            return None
        if kind == b"iTXt" and data[start : start + len(PNG_XMP_KEYWORD) + 1] == PNG_XMP_KEYWORD + b"\x00":
            if length > MAX_PACKET_BYTES + _ITXT_HEADER:
                # Checked before any copy. Deflate adds only a few bytes per
                # 64 KB to data it cannot shrink, so a compressed chunk this
                # long would inflate past the limit too.
                log.info("XMP chunk of %d bytes skipped (limit %d)", length, MAX_PACKET_BYTES)
                return None
            return _itxt_text(data[start + len(PNG_XMP_KEYWORD) + 1 : end])
        pos = end + 4  # skip the CRC
    return None


def _itxt_text(rest: bytes) -> bytes | None:
    """iTXt after the keyword: flag, method, language\\0, translated keyword\\0, text."""
    if len(rest) < 2:
        return None
    compressed, method = rest[0], rest[1]
    try:
        _lang, _translated, text = rest[2:].split(b"\x00", 2)
    except ValueError:
        return None
    if not compressed:
        if len(text) > MAX_PACKET_BYTES:
            log.info("XMP packet of %d bytes skipped (limit %d)", len(text), MAX_PACKET_BYTES)
            return None
        return text
    if method != 0:
        return None
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(text, MAX_PACKET_BYTES + 1)
    except zlib.error:
        return None
    if len(out) > MAX_PACKET_BYTES:
        log.info("compressed XMP packet inflates past %d bytes: skipped", MAX_PACKET_BYTES)
        return None
    return out


def _webp_packet(data: bytes) -> bytes | None:
    pos, n = 12, len(data)
    for _ in range(MAX_SEGMENTS):
        if pos + 8 > n:
            return None
        kind, (length,) = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if end > n:
            return None
        if kind == b"XMP ":
            if length > MAX_PACKET_BYTES:
                log.info("XMP packet of %d bytes skipped (limit %d)", length, MAX_PACKET_BYTES)
                return None
            return data[start:end]
        pos = end + (length & 1)  # chunks are padded to an even size
    return None


# ------------------------------------------------------------------ parsing


def parse_packet(packet: bytes) -> Element:
    """The root element of ``packet``, parsed with every bound in place.

    Raises :class:`XmpRefused` for a packet over :data:`MAX_PACKET_BYTES`,
    deeper than :data:`MAX_DEPTH`, with more than :data:`MAX_ELEMENTS`
    elements, with a DTD, an entity or an external reference, or that is not
    well-formed.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    if len(packet) > MAX_PACKET_BYTES:
        raise XmpRefused(f"XMP packet over {MAX_PACKET_BYTES} bytes")
    packet = packet.rstrip(b"\x00 \t\r\n")  # some writers pad the segment past the packet's end
    depth = elements = 0
    root: Element | None = None
    try:
        for event, elem in iterparse(
            io.BytesIO(packet), events=("start", "end"), forbid_dtd=True, forbid_entities=True, forbid_external=True
        ):
            if event == "start":
                depth += 1
                elements += 1
                if root is None:
                    root = elem
                if depth > MAX_DEPTH:
                    raise XmpRefused(f"XMP nested deeper than {MAX_DEPTH} elements")
                if elements > MAX_ELEMENTS:
                    raise XmpRefused(f"XMP with more than {MAX_ELEMENTS} elements")
            else:
                depth -= 1
    except DefusedXmlException as exc:
        raise XmpRefused(f"XMP with a DTD, an entity or an external reference ({type(exc).__name__})") from exc
    except SyntaxError as exc:  # xml.etree.ElementTree.ParseError
        raise XmpRefused(f"XMP is not well-formed XML ({exc})") from exc
    if root is None:
        raise XmpRefused("XMP packet without elements")
    return root


def parsed_packets(data: bytes) -> list[Element]:
    """Every XMP packet of ``data`` that parses within the bounds (standard first)."""
    roots: list[Element] = []
    for packet in find_packets(data):
        try:
            roots.append(parse_packet(packet))
        except XmpRefused as exc:
            log.info("XMP ignored: %s", exc)
    return roots

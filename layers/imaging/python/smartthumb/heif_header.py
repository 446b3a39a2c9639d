"""HEIC/HEIF and AVIF header check: the ISOBMFF boxes walked in Python before any C decoder sees them.

Both formats are an ISO base media file (``ftyp``, ``meta`` with the item
table and properties, ``mdat``); HEIC codes its images with HEVC (decoded by
libheif + libde265 through pi-heif), AVIF with AV1 (Pillow's bundled libavif).
This module reads only the structure, bounded:

* every box's size must lie inside its parent (a size past the end is a
  truncated or forged file: 415), boxes are counted (``MAX_BOXES``) and
  nesting is limited, so a hostile file costs at most a linear walk;
* the item count (``iinf``) and property associations (``ipma``) are
  bounded: a HEIC grid of 512x512 tiles has tens of items (a 48 MP photo:
  ~200), not millions;
* the primary item's ``ispe`` (image spatial extent) gives the pixel size, so
  the pixel and memory limits are checked before decoding; ``irot`` says
  whether width and height swap;
* for AVIF, the AV1 sequence headers (``av1C``'s configOBUs, and the start
  of each item's data through ``iloc``) give the size libavif will really
  decode (:mod:`smartthumb.av1_header`); the largest counts too, as an
  ``ispe`` can understate it.

The ``ftyp`` brands decide the decoder: :func:`sniff` answers ``"HEIF"``,
``"AVIF"`` or None, so each file goes to exactly one plugin.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from smartthumb import av1_header
from smartthumb.errors import SourceTooLarge, UnsupportedImage

HEIF = "HEIF"
AVIF = "AVIF"

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_GENERIC_BRANDS = frozenset({b"mif1", b"msf1", b"miaf", b"mif2"})

MAX_BOXES = 4096
MAX_DEPTH = 8
MAX_ITEMS = 1024
MAX_PROPERTIES = 4096

#: Boxes whose payload is a list of boxes (``meta`` after its 4-byte version/flags).
_CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0, b"dinf": 0, b"moov": 0, b"trak": 0}


@dataclass(frozen=True, slots=True)
class HeifHeader:
    kind: str  # HEIF or AVIF
    width: int  # of the primary image as decoded (irot applied)
    height: int
    items: int
    #: Largest image extent of any item (a hidden huge item still costs the parser).
    largest_pixels: int
    #: AVIF: the largest frame its AV1 sequence headers declare (0: none found).
    coded_pixels: int = 0


def _brands(data: bytes) -> tuple[bytes, set[bytes]] | None:
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    size = struct.unpack_from(">I", data, 0)[0]
    if size < 16 or size > min(len(data), 4096):
        return None
    return data[8:12], {data[i : i + 4] for i in range(16, size - 3, 4)}


def sniff(data: bytes) -> str | None:
    """``"HEIF"`` or ``"AVIF"`` from the ``ftyp`` brands, None when it is neither."""
    brands = _brands(data)
    if brands is None:
        return None
    major, compatible = brands
    every = {major} | compatible
    if major in _AVIF_BRANDS or (major in _GENERIC_BRANDS and every & _AVIF_BRANDS and not every & _HEIF_BRANDS):
        return AVIF
    if every & _HEIF_BRANDS:
        return HEIF
    return None


class _Walk:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.boxes = 0
        self.items = 0
        self.primary: int | None = None
        self.properties: list[tuple[bytes, tuple[int, ...]]] = []  # ipco children in order (1-based in ipma)
        self.associations: dict[int, list[int]] = {}
        # Each item's first extent (iloc): construction method (0 the file, 1 the idat box), offset, length.
        self.extents: list[tuple[int, int, int]] = []
        self.idat: tuple[int, int] | None = None  # the idat box's payload [start, end)

    def walk(self, start: int, end: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise UnsupportedImage("the HEIF/AVIF boxes nest too deep")
        pos = start
        while pos < end:
            if end - pos < 8:
                raise UnsupportedImage("the HEIF/AVIF file has a truncated box")
            size, kind = struct.unpack_from(">I4s", self.data, pos)
            header = 8
            if size == 1:
                if end - pos < 16:
                    raise UnsupportedImage("the HEIF/AVIF file has a truncated box")
                size = struct.unpack_from(">Q", self.data, pos + 8)[0]
                header = 16
            elif size == 0:
                size = end - pos
            if size < header or pos + size > end:
                raise UnsupportedImage("a HEIF/AVIF box runs past its container (truncated or forged file)")
            self.boxes += 1
            if self.boxes > MAX_BOXES:
                raise UnsupportedImage(f"the HEIF/AVIF file has more than {MAX_BOXES} boxes")
            body, box_end = pos + header, pos + size
            if kind == b"ipco":
                self.ipco(body, box_end, depth + 1)
            elif kind in _CONTAINERS:
                self.walk(body + _CONTAINERS[kind], box_end, depth + 1)
            elif kind == b"pitm":
                self.pitm(body, box_end)
            elif kind == b"iinf":
                self.iinf(body, box_end)
            elif kind == b"ipma":
                self.ipma(body, box_end)
            elif kind == b"iloc":
                try:
                    self.iloc(body, box_end)
                except UnsupportedImage:  # read only to find AV1 headers: the decoder judges the table
                    self.extents.clear()
            elif kind == b"idat":
                self.idat = (body, box_end)
            pos = box_end

    def _need(self, pos: int, n: int, end: int) -> None:
        if pos + n > end:
            raise UnsupportedImage("a HEIF/AVIF box is shorter than its fields")

    def pitm(self, pos: int, end: int) -> None:
        self._need(pos, 4, end)
        version = self.data[pos]
        self._need(pos, 6 if version == 0 else 8, end)
        self.primary = struct.unpack_from(">H" if version == 0 else ">I", self.data, pos + 4)[0]

    def iinf(self, pos: int, end: int) -> None:
        self._need(pos, 6, end)
        version = self.data[pos]
        self._need(pos, 6 if version == 0 else 8, end)
        count = struct.unpack_from(">H" if version == 0 else ">I", self.data, pos + 4)[0]
        if count > MAX_ITEMS:
            raise UnsupportedImage(f"the HEIF/AVIF file has more than {MAX_ITEMS} items")
        self.items = count

    def ipco(self, pos: int, end: int, depth: int) -> None:
        while pos < end:
            self._need(pos, 8, end)
            size, kind = struct.unpack_from(">I4s", self.data, pos)
            if size < 8 or pos + size > end:
                raise UnsupportedImage("a HEIF/AVIF property runs past its container")
            self.boxes += 1
            if self.boxes > MAX_BOXES or len(self.properties) >= MAX_PROPERTIES:
                raise UnsupportedImage("the HEIF/AVIF file has too many properties")
            values: tuple[int, ...] = ()
            if kind == b"ispe":
                self._need(pos + 8, 12, pos + size)
                values = struct.unpack_from(">II", self.data, pos + 12)
            elif kind == b"irot":
                self._need(pos + 8, 1, pos + size)
                values = (self.data[pos + 8] & 3,)
            elif kind == b"av1C":  # 4 bytes of fields, then the optional configOBUs
                declared = av1_header.obus_size(self.data[pos + 12 : pos + size])
                values = declared or ()
            self.properties.append((kind, values))
            pos += size

    def iloc(self, pos: int, end: int) -> None:
        """Each item's first extent in the file or the idat box (construction methods 0 and 1)."""
        self._need(pos, 6, end)
        version = self.data[pos]
        sizes = self.data[pos + 4], self.data[pos + 5]
        offset_size, length_size, base_size = sizes[0] >> 4, sizes[0] & 15, sizes[1] >> 4
        index_size = sizes[1] & 15 if version in (1, 2) else 0
        pos += 6
        id_size = 4 if version == 2 else 2
        self._need(pos, id_size, end)
        count = int.from_bytes(self.data[pos : pos + id_size], "big")
        pos += id_size
        if count > MAX_ITEMS:
            raise UnsupportedImage(f"the HEIF/AVIF file has more than {MAX_ITEMS} items")

        def number(n: int) -> int:
            nonlocal pos
            self._need(pos, n, end)
            value = int.from_bytes(self.data[pos : pos + n], "big")
            pos += n
            return value

        for _ in range(count):
            number(id_size)
            method = number(2) & 15 if version in (1, 2) else 0
            number(2)  # data_reference_index
            base = number(base_size)
            extents = number(2)
            for k in range(extents):
                number(index_size)
                offset, length = number(offset_size), number(length_size)
                if k == 0 and method in (0, 1):
                    self.extents.append((method, base + offset, length))

    def ipma(self, pos: int, end: int) -> None:
        self._need(pos, 8, end)
        version, flags = self.data[pos], int.from_bytes(self.data[pos + 1 : pos + 4], "big")
        count = struct.unpack_from(">I", self.data, pos + 4)[0]
        if count > MAX_ITEMS:
            raise UnsupportedImage(f"the HEIF/AVIF file has more than {MAX_ITEMS} items")
        pos += 8
        id_size, wide = (2 if version == 0 else 4), bool(flags & 1)
        for _ in range(count):
            self._need(pos, id_size + 1, end)
            item = int.from_bytes(self.data[pos : pos + id_size], "big")
            n = self.data[pos + id_size]
            pos += id_size + 1
            self._need(pos, n * (2 if wide else 1), end)
            indices = []
            for _ in range(n):
                if wide:
                    indices.append(struct.unpack_from(">H", self.data, pos)[0] & 0x7FFF)
                    pos += 2
                else:
                    indices.append(self.data[pos] & 0x7F)
                    pos += 1
            self.associations[item] = indices


def scan(data: bytes, max_pixels: int) -> HeifHeader:
    """Walk a HEIF/AVIF file's boxes; raise 415 for a malformed one, 413 over ``max_pixels``."""
    kind = sniff(data)
    if kind is None:
        raise UnsupportedImage("not a HEIF or AVIF file")
    w = _Walk(data)
    w.walk(0, len(data), 0)
    extents = [values for name, values in w.properties if name == b"ispe"]
    coded = _av1_declared(data, w) if kind == AVIF else 0
    if not extents:
        raise UnsupportedImage("the HEIF/AVIF file has no image extent (ispe)")
    largest = max(a * b for a, b in extents)
    width = height = 0
    rotation = 0
    if w.primary is not None and w.primary in w.associations:
        for index in w.associations[w.primary]:
            if 1 <= index <= len(w.properties):
                name, values = w.properties[index - 1]
                if name == b"ispe":
                    width, height = values
                elif name == b"irot":
                    rotation = values[0]
    if not width or not height:
        raise UnsupportedImage("the HEIF/AVIF primary image has no extent")
    if max(width * height, largest, coded) > max_pixels:
        raise SourceTooLarge(f"the source has more than {max_pixels} pixels")
    if rotation in (1, 3):
        width, height = height, width
    return HeifHeader(kind, width, height, w.items, largest, coded)


def _av1_declared(data: bytes, w: _Walk) -> int:
    """The largest frame (pixels) any AV1 sequence header of the file declares: in an ``av1C``
    property's configOBUs, or at the start of an item's data, in the file or in the ``idat`` box
    (where libavif finds it when the configOBUs, which are optional, are left out; libavif
    itself writes none). 0 when none is found."""
    sizes = [values for name, values in w.properties if name == b"av1C" and values]
    for method, offset, length in w.extents:
        start, end = (0, len(data)) if method == 0 else (w.idat or (0, 0))
        offset += start
        if start <= offset < end:
            payload = data[offset : min(offset + (length or end), end, offset + av1_header.SEARCH_BYTES)]
            declared = av1_header.obus_size(payload)
            if declared is not None:
                sizes.append(declared)
    return max((a * b for a, b in sizes), default=0)

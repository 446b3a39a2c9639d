"""The issue-11 classes, generated in memory: inputs under every byte and pixel
limit that cost Pillow seconds of CPU or more memory than a function has.

``scale`` sizes each generator: the defaults are the sizes of the findings
(a few to 50 MB, built by byte repetition in well under a second); the unit
tests use smaller ones, which the structure limits refuse just as well.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image

from tests.hardening.corpus import _png_chunk


def _save(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def tiff_ifd_chain(ifds: int = 32_000) -> bytes:
    """A little-endian TIFF of ``ifds`` minimal 1x1 pages, each IFD pointing at the next."""
    entries = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (273, 4, 1, 0), (279, 4, 1, 1)]
    ifd_size = 2 + 12 * len(entries) + 4
    first = 8
    pixel_at = first + ifds * ifd_size
    out = bytearray(b"II*\0" + struct.pack("<I", first))
    for k in range(ifds):
        out += struct.pack("<H", len(entries))
        for tag, kind, count, value in entries:
            out += struct.pack("<HHII", tag, kind, count, pixel_at if tag == 273 else value)
        out += struct.pack("<I", 0 if k == ifds - 1 else first + (k + 1) * ifd_size)
    return bytes(out + b"\x80")


def _small_jpeg(mode: str = "RGB", **params: object) -> bytes:
    colour = (0, 255, 255, 0) if mode == "CMYK" else (200, 30, 30)
    return _save(Image.new(mode, (16, 16), colour), "JPEG", quality=90, **params)  # type: ignore[arg-type]


def jpeg_marker_flood(markers: int = 12_000_000, marker: int = 0xE0) -> bytes:
    """A 16x16 JPEG with ``markers`` empty APPn (or COM, 0xFE) segments after SOI."""
    jpeg = _small_jpeg()
    return jpeg[:2] + bytes([0xFF, marker, 0, 2]) * markers + jpeg[2:]


def jpeg_junk(junk: int = 40_000_000) -> bytes:
    """A 16x16 JPEG with ``junk`` non-marker bytes after its first segment (Pillow skips them one by one)."""
    jpeg = _small_jpeg()
    first = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:first] + b"\0" * junk + jpeg[first:]


def png_private_chunk_flood(chunks: int = 4_000_000) -> bytes:
    """A 16x16 PNG with ``chunks`` empty private chunks (``prVt``) before its image data."""
    png = _save(Image.new("RGB", (16, 16), (10, 200, 10)), "PNG")
    ihdr_end = 8 + 25
    return png[:ihdr_end] + _png_chunk(b"prVt", b"") * chunks + png[ihdr_end:]


def png_idat_flood(chunks: int = 4_000_000) -> bytes:
    """A 16x16 PNG whose image data is split into ``chunks`` chunks (all but one empty)."""
    png = _save(Image.new("RGB", (16, 16), (10, 200, 10)), "PNG")
    at = png.index(b"IDAT") - 4
    return png[:at] + _png_chunk(b"IDAT", b"") * chunks + png[at:]


def gif_comment_flood(subblocks: int = 26_000_000) -> bytes:
    """A 16x16 GIF with one comment extension of ``subblocks`` one-byte sub-blocks."""
    gif = _save(Image.new("P", (16, 16), 0), "GIF")
    at = gif.index(b"\x2c")  # the image descriptor
    return gif[:at] + b"\x21\xfe" + b"\x01x" * subblocks + b"\x00" + gif[at:]


def _patch_sof(jpeg: bytes, width: int, height: int) -> bytes:
    for sof in (b"\xff\xc2", b"\xff\xc0"):
        at = jpeg.find(sof)
        if at >= 0:
            return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]
    raise ValueError("no SOF")


def progressive_jpeg(mode: str = "CMYK", side: int = 10_000, subsampling: int = 0) -> bytes:
    """A progressive JPEG whose SOF says ``side`` x ``side`` (100 Mpx by default).

    Encoded at 16x16 and its frame header patched: libjpeg allocates (and
    zeroes) the whole-image coefficient buffer from the SOF at the start of the
    decode, exactly as for the 1.5 MB camera-size file of the finding; the
    missing scan data only makes the decode end as truncated afterwards.
    """
    return _patch_sof(_small_jpeg(mode, progressive=True, subsampling=subsampling), side, side)


def png16_at_limit(side: int = 10_000) -> bytes:
    """A 16-bit RGBA PNG of ``side`` x ``side``, all zero: Pillow's whole-frame path (~8 bytes per pixel)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + side * 8)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def rle8_bmp(width: int = 10_000, height: int = 10_000) -> bytes:
    """An RLE8 BMP: each row one run of 255 pixels of index 1 repeated, then end-of-line."""
    palette = b"\0\0\0\0" + b"\0\0\xff\0" + b"\0" * (254 * 4)
    runs = b""
    left = width
    while left > 0:
        n = min(255, left)
        runs += bytes([n, 1])
        left -= n
    pixels = (runs + b"\0\0") * height + b"\0\1"
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


#: A lossless WebP's coded data for one flat colour, after its 32-bit size header (libwebp's output for
#: RGB 10, 20, 30 at ``method=0``): the same 12 bytes at any size, so the 38-byte file can claim any canvas.
_FLAT_VP8L = bytes.fromhex("07508a2ad4a3ff8188e87f00")


def flat_lossless_webp(width: int = 10_000, height: int = 10_000) -> bytes:
    """A genuine lossless WebP of one flat colour (what libwebp writes): 38 bytes whatever the size.

    Pillow decodes every WebP to a full RGBA frame and copies it: 100 Mpx peaked at 1.5 GB here,
    a ``MemoryError`` (500) under the ThumbnailFunction's 1,024 MB before the budget knew WebP."""
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits) + _FLAT_VP8L
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def tiff_huge_tile(tile: int = 16_384, side: int = 64) -> bytes:
    """A ``side`` x ``side`` RGB TIFF whose one deflate tile is declared ``tile`` x ``tile`` (valid:
    a tile may reach past the image). libtiff inflates and buffers the whole tile: at 16384 (780 KB
    of file) /th peaked at 886 MB and 2.4 s of CPU while the page's 4,096 pixels passed every budget."""
    deflate = zlib.compressobj(9)
    row = bytes(tile * 3)
    data = b"".join(deflate.compress(row) for _ in range(tile)) + deflate.flush()
    if tile < side:
        raise ValueError("one tile only: tile must be at least side")
    entries = [  # (tag, type, count, value); type 3 SHORT, 4 LONG
        (256, 4, 1, side),
        (257, 4, 1, side),
        (258, 3, 3, 0),  # BitsPerSample 8,8,8 at an offset, filled below
        (259, 3, 1, 8),  # deflate
        (262, 3, 1, 2),  # RGB
        (277, 3, 1, 3),
        (284, 3, 1, 1),
        (322, 4, 1, tile),
        (323, 4, 1, tile),
        (324, 4, 1, 0),  # TileOffsets, filled below
        (325, 4, 1, len(data)),
    ]
    bits_at = 8 + 2 + 12 * len(entries) + 4
    data_at = bits_at + 6
    out = bytearray(b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, kind, count, value in entries:
        value = {258: bits_at, 324: data_at}.get(tag, value)
        if kind == 3 and count == 1:  # an inline SHORT, padded to the 4-byte value field
            out += struct.pack("<HHIHH", tag, kind, count, value, 0)
        else:
            out += struct.pack("<HHII", tag, kind, count, value)
    out += struct.pack("<I", 0) + struct.pack("<HHH", 8, 8, 8) + data
    return bytes(out)


@dataclass(frozen=True)
class Flood:
    """One class of the issue: its bytes and the 413 it must get."""

    name: str
    data: bytes


def findings() -> list[Flood]:
    """Every class at the size of the finding (for the capped-memory runs)."""
    return [
        Flood("ifd-chain.tiff", tiff_ifd_chain()),
        Flood("app-flood.jpg", jpeg_marker_flood()),
        Flood("com-flood.jpg", jpeg_marker_flood(marker=0xFE)),
        Flood("junk.jpg", jpeg_junk()),
        Flood("private-chunks.png", png_private_chunk_flood()),
        Flood("idat-flood.png", png_idat_flood()),
        Flood("comment-flood.gif", gif_comment_flood()),
        Flood("progressive-cmyk.jpg", progressive_jpeg("CMYK")),
        Flood("progressive-444.jpg", progressive_jpeg("RGB")),
        Flood("rgba16-100mpx.png", png16_at_limit()),
        Flood("rle8-100mpx.bmp", rle8_bmp()),
        Flood("flat-100mpx.webp", flat_lossless_webp()),
        Flood("huge-tile.tiff", tiff_huge_tile()),
    ]


def flood_seeds() -> list[bytes]:
    """Each class just under its structure limit: seeds for the fuzzers, so
    mutations land on both sides of every count."""
    return [
        tiff_ifd_chain(90),
        jpeg_marker_flood(500),
        jpeg_marker_flood(500, marker=0xFE),
        jpeg_junk(60_000),
        png_private_chunk_flood(1000),
        png_idat_flood(2000),
        gif_comment_flood(16_000),
        progressive_jpeg("RGB", 2000),
        rle8_bmp(200, 150),
    ]

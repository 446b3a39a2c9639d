"""A PNG's image data inflated by ISA-L and handed to libspng as stored deflate.

libspng in the pinned ``pyspng`` wheel is linked with zlib 1.2.11: of its
~205 ms for a 12 MP RGB PNG, ~125 ms are the inflate. ISA-L (the ``isal``
wheel) inflates the same IDAT stream in ~50 ms. So the PNG is read through
:class:`StoredPng`: the same bytes up to the first IDAT and after the last,
and between them IDAT chunks holding the already inflated data in *stored*
deflate blocks, which libspng's inflate only copies. The stream is made as
libspng reads it, a piece (``PIECE`` bytes of inflated data) at a time, so
neither the inflated image nor the new stream exists whole.

The source is checked as libspng checks it: every chunk CRC up to the end of
the image data and the zlib stream's Adler-32 (by ISA-L, at its end). Any
mismatch, truncation, or data after the zlib stream makes :meth:`StoredPng.read_into`
fail, which fails libspng's decode, which sends the PNG to Pillow's decoder,
as a libspng error does on the plain path. libspng is told not to check the
CRCs and Adler-32 of the stream it reads (they are right: this module writes
them, but checking them again is ~30 ms).

Without the ``isal`` module, :func:`stored_png` returns None and libspng reads
the PNG itself.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

#: Inflated bytes per IDAT chunk of the new stream, at most (4 stored blocks).
PIECE = 4 * 65535
_STORED_MAX = 65535
_ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KiB window, no dictionary, check bits
_FINAL_EMPTY_BLOCK = b"\x01\x00\x00\xff\xff"

_isal: Any = None  # isal.isal_zlib, or False when it cannot be imported


class CorruptPng(Exception):
    """The source's image data is broken; libspng's decode fails, Pillow decides."""


def _inflater() -> Any:
    global _isal
    if _isal is None:
        try:
            from isal import isal_zlib

            _isal = isal_zlib
        except ImportError:
            _isal = False
    return _isal or None


def stored_png(data: bytes, idat_start: int) -> StoredPng | None:
    """A reader of ``data`` with its image data re-encoded as stored deflate, or None without ISA-L.

    ``idat_start`` is the offset of the first IDAT chunk (its length field).
    """
    zlib = _inflater()
    return None if zlib is None else StoredPng(zlib, data, idat_start)


class StoredPng:
    """The rewritten PNG stream, read front to back with :meth:`read_into`."""

    def __init__(self, zlib: Any, data: bytes, idat_start: int) -> None:
        import ctypes

        self._memmove = ctypes.memmove
        self._address = lambda piece: ctypes.cast(ctypes.c_char_p(piece), ctypes.c_void_p).value
        self._pieces = _pieces(zlib, memoryview(data), idat_start)
        self._piece = b""  # kept alive while its bytes are copied from its address
        self._base = 0
        self._pos = 0

    def read_into(self, dest: int, length: int) -> int:
        """Copy the next ``length`` bytes to address ``dest``; how many (fewer only at the end).

        Raises :class:`CorruptPng` for a broken source.
        """
        done = 0
        while done < length:
            left = len(self._piece) - self._pos
            if not left:
                piece = next(self._pieces, None)
                if piece is None:
                    break
                self._piece, self._base, self._pos = piece, self._address(piece), 0
                continue
            n = min(left, length - done)
            self._memmove(dest + done, self._base + self._pos, n)
            self._pos += n
            done += n
        return done


def _chunk(zlib: Any, parts: list[Any]) -> bytes:
    """An IDAT chunk of ``parts`` (bytes-like), in one copy."""
    crc = zlib.crc32(b"IDAT")
    size = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
        size += len(part)
    return b"".join([struct.pack(">I", size), b"IDAT", *parts, struct.pack(">I", crc)])


def _checked_chunk(zlib: Any, data: memoryview, pos: int) -> tuple[bytes, memoryview, int]:
    """The chunk at ``pos``: its type, its data, and the offset after it. Raises CorruptPng."""
    if pos + 8 > len(data):
        raise CorruptPng("truncated chunk header")
    length, kind = struct.unpack_from(">I4s", data, pos)
    end = pos + 8 + length
    if length > 0x7FFFFFFF or end + 4 > len(data):
        raise CorruptPng("truncated chunk")
    if zlib.crc32(data[pos + 4 : end]) != struct.unpack_from(">I", data, end)[0]:
        raise CorruptPng("bad chunk CRC")
    return kind, data[pos + 8 : end], end + 4


def _pieces(zlib: Any, data: memoryview, idat_start: int) -> Iterator[bytes]:
    """The new stream in pieces: header chunks, stored-deflate IDATs, the original trailer."""
    pos = 8
    while pos < idat_start:  # the chunks before the image data: checked, passed on as they are
        pos = _checked_chunk(zlib, data, pos)[2]
    if pos != idat_start:
        raise CorruptPng("chunk boundaries do not meet the first IDAT")
    yield bytes(data[:idat_start])
    inflater = zlib.decompressobj()
    adler = 1
    head = _ZLIB_HEADER
    while pos + 8 <= len(data) and data[pos + 4 : pos + 8] == b"IDAT":
        _, body, pos = _checked_chunk(zlib, data, pos)
        if inflater.eof:
            if len(body):
                raise CorruptPng("data after the end of the zlib stream")
            continue
        pending: Any = body
        while True:
            try:
                out = inflater.decompress(pending, PIECE)
            except zlib.error as exc:  # a bad deflate stream or Adler-32
                raise CorruptPng(str(exc)) from exc
            if out:
                adler = zlib.adler32(out, adler)
                view = memoryview(out)
                blocks: list[Any] = [head]
                for i in range(0, len(out), _STORED_MAX):
                    block = view[i : i + _STORED_MAX]
                    blocks.append(struct.pack("<BHH", 0, len(block), len(block) ^ 0xFFFF))
                    blocks.append(block)
                head = b""
                yield _chunk(zlib, blocks)
            pending = inflater.unconsumed_tail
            if not pending and len(out) < PIECE:
                break
        if inflater.unused_data:
            raise CorruptPng("data after the end of the zlib stream")
    if not inflater.eof:
        raise CorruptPng("the image data ends before its zlib stream")
    yield _chunk(zlib, [head, _FINAL_EMPTY_BLOCK, struct.pack(">I", adler)])
    yield bytes(data[pos:])  # the chunks after the image data, as they are

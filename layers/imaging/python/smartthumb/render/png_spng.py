"""PNG via libspng: 8-bit PNGs decoded and reduced in strips.

Pillow's PNG decoder is the slow part of a large PNG source (~330 ms for a
12 MP photo-like RGB PNG, where libvips's whole thumbnail takes ~155 ms), and
it holds the whole frame at 4 bytes per pixel. For the common case -- an
8-bit L, LA, RGB or RGBA PNG, not interlaced, not animated, no tRNS -- the
pixels are decoded instead by libspng (~210 ms), row by row, in strips that
are box-reduced as soon as they are decoded, so the full frame never exists.

libspng is the copy inside the pinned ``pyspng`` wheel, called through
ctypes: pyspng's own ``load()`` copies the source into a C++ string and
returns the whole frame as a numpy array (importing numpy), which is more
memory than Pillow, not less. Its shared object exports the libspng API; the
exact version is checked before it is used, and without it PNGs go to Pillow.
That libspng inflates with zlib 1.2.11; when the ``isal`` wheel is there it
reads instead the stream :mod:`smartthumb.render.png_inflate` makes, whose
image data ISA-L has already inflated and checked (~30 % of the decode CPU).

Behaviour is Pillow's: the header (limits, ICC, eXIf, gAMA/sRGB, which Pillow
does not apply to pixels and neither does libspng without SPNG_DECODE_GAMMA)
was read by Pillow in open_image; the resampling is the same Pillow calls in
the same order (see ``Image.resize``: premultiply, ``reduce`` over the
filter's safe box, then the filter), done strip by strip. Any libspng error
(truncation, a bad CRC or Adler-32, an odd chunk) falls back to Pillow's
decoder, which gives its own verdict, so libspng can only be stricter; the
chunks after the image data are then walked exactly as Pillow's ``load_end``
walks them, so a broken trailing chunk is refused as Pillow refuses it.

Only :func:`execute_png` is called, by :mod:`smartthumb.render.execute`'s
decode step; it returns None whenever Pillow must decode instead. What to do
with the pixels (nothing, a crop, which filter after which reduce) is
:func:`smartthumb.render.resample.decide`'s, the same decision the Pillow
path executes.
"""

from __future__ import annotations

import copy
import io
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFile, PngImagePlugin

from smartthumb.errors import UnsupportedImage
from smartthumb.render.open import LOAD_ERRORS, OpenedImage
from smartthumb.render.png_inflate import StoredPng, stored_png
from smartthumb.render.resample import REDUCING_GAP, Action, decide

#: The only libspng build this binding is written against (pyspng==0.1.4).
_SPNG_VERSION = b"0.7.4"
#: IHDR colour type -> Pillow mode, and the libspng output format giving exactly
#: Pillow's raw layout for it at 8 bits (SPNG_FMT_G8, GA8, RGB8, RGBA8).
_SPNG_COLOUR_TYPES = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}
_SPNG_FORMATS = {"L": 64, "LA": 16, "RGB": 4, "RGBA": 1}
_SPNG_DECODE_PROGRESSIVE = 256
_SPNG_EOI = 75
_SPNG_CRC_USE = 2
_SPNG_IO_ERROR, _SPNG_IO_EOF = -2, -1
#: Largest ancillary chunk and total of them libspng may hold (Pillow already
#: parsed them; an over-limit chunk is a libspng error, i.e. Pillow decodes).
_SPNG_CHUNK_LIMIT = 8 << 20
_SPNG_CACHE_LIMIT = 16 << 20
#: Rows are decoded in strips of about this many bytes.
_SPNG_STRIP_BYTES = 1 << 18
#: ``Image.resize``'s filter supports (``PIL.Image._filters_support``), for
#: the safe box it reduces over.
_FILTER_SUPPORT = {Image.Resampling.BICUBIC: 2.0, Image.Resampling.LANCZOS: 3.0}
_PREMULTIPLIED = {"LA": "La", "RGBA": "RGBa"}

_spng: object = None  # the loaded library, False when unavailable


class _SpngError(Exception):
    """libspng refused the stream: Pillow decodes it instead."""


def libspng() -> Any:  # a ctypes.CDLL (ctypes is imported lazily)
    """The libspng in pyspng's extension module, or None. Imports neither numpy nor pyspng."""
    global _spng
    if _spng is None:
        _spng = False
        try:
            import ctypes
            import importlib.machinery
            import importlib.util
            import os

            spec = importlib.util.find_spec("pyspng")  # finds the package without importing it
            folders = list(spec.submodule_search_locations or []) if spec else []
            paths = [
                os.path.join(folder, "_pyspng_c" + suffix)
                for folder in folders
                for suffix in importlib.machinery.EXTENSION_SUFFIXES
            ]
            path = next((p for p in paths if os.path.isfile(p)), None)
            if path is not None:
                lib = ctypes.CDLL(path)
                lib.spng_version_string.restype = ctypes.c_char_p
                lib.spng_version_string.argtypes = []
                if lib.spng_version_string() == _SPNG_VERSION:
                    ctx, size, buf = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p
                    for name, restype, argtypes in (
                        ("spng_ctx_new", ctx, [ctypes.c_int]),
                        ("spng_ctx_free", None, [ctx]),
                        ("spng_set_png_buffer", ctypes.c_int, [ctx, ctypes.c_char_p, size]),
                        ("spng_set_chunk_limits", ctypes.c_int, [ctx, size, size]),
                        ("spng_set_image_limits", ctypes.c_int, [ctx, ctypes.c_uint32, ctypes.c_uint32]),
                        ("spng_decoded_image_size", ctypes.c_int, [ctx, ctypes.c_int, ctypes.POINTER(size)]),
                        ("spng_decode_image", ctypes.c_int, [ctx, buf, size, ctypes.c_int, ctypes.c_int]),
                        ("spng_decode_row", ctypes.c_int, [ctx, buf, size]),
                        ("spng_set_png_stream", ctypes.c_int, [ctx, ctypes.c_void_p, ctypes.c_void_p]),
                        ("spng_set_crc_action", ctypes.c_int, [ctx, ctypes.c_int, ctypes.c_int]),
                    ):
                        function = getattr(lib, name)
                        function.restype = restype
                        function.argtypes = argtypes
                    _spng = lib
        except Exception:  # no pyspng, another build, no dlopen: Pillow decodes every PNG
            _spng = False
    return _spng or None


@dataclass(frozen=True)
class _SpngSource:
    data: bytes
    mode: str  # "L", "LA", "RGB" or "RGBA"
    width: int
    height: int
    idat_start: int  # offset of the first IDAT chunk (its length field)
    idat_end: int  # offset just after the first IDAT chunk's data (before its CRC)


def _spng_source(opened: OpenedImage) -> _SpngSource | None:
    """The PNG if libspng may decode it exactly as Pillow would, else None."""
    im = opened.image
    if opened.format != "PNG" or not isinstance(im, PngImagePlugin.PngImageFile):
        return None
    info = im.info
    png = im.png
    if (
        png is None  # already loaded
        or getattr(png, "im_n_frames", None) is not None  # APNG (acTL)
        or "bbox" in info
        or "default_image" in info
        or "transparency" in info  # tRNS: Pillow's keyed transparency
        or info.get("interlace")
        or im.mode not in _SPNG_FORMATS
        or len(im.tile) != 1
        or not isinstance(im.fp, io.BytesIO)
    ):
        return None
    data = im.fp.getvalue()  # the caller's bytes object itself (BytesIO shares it until written)
    if len(data) < 33 or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if (
        depth != 8
        or _SPNG_COLOUR_TYPES.get(colour) != im.mode
        or (compression, filtering, interlace) != (0, 0, 0)
        or (width, height) != im.size
    ):
        return None
    offset = im.tile[0].offset  # the first IDAT's data
    if offset < 8 or data[offset - 4 : offset] != b"IDAT":
        return None
    length = struct.unpack_from(">I", data, offset - 8)[0]
    return _SpngSource(data, im.mode, width, height, offset - 8, offset + length)


def _spng_decode(
    src: _SpngSource, top: int, bottom: int, strip_rows: int, sink: Callable[[int, Image.Image], None]
) -> None:
    """Decode every row; hand rows ``top``..``bottom`` to ``sink(y, strip)`` in strips.

    Strips start at ``top`` and are ``strip_rows`` high (the last may be
    shorter). Rows outside are decoded too (a truncated stream must fail) but
    not kept. Raises :class:`_SpngError` for anything libspng refuses.
    """
    import ctypes

    lib = libspng()
    if lib is None:
        raise _SpngError("libspng is not available")
    mode, width, height = src.mode, src.width, src.height
    row_bytes = width * len(mode)
    buf = bytearray(row_bytes * strip_rows)
    base = ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))
    ctx = lib.spng_ctx_new(0)
    if not ctx:
        raise MemoryError("libspng could not allocate a context")
    stored = stored_png(src.data, src.idat_start)
    reader = None if stored is None else _stream_reader(ctypes, stored)
    try:
        if (
            lib.spng_set_chunk_limits(ctx, _SPNG_CHUNK_LIMIT, _SPNG_CACHE_LIMIT)
            or lib.spng_set_image_limits(ctx, width, height)
            or (
                lib.spng_set_png_buffer(ctx, src.data, len(src.data))
                if reader is None
                # The stream's CRCs and Adler-32 are png_inflate's, which checked the source's.
                else lib.spng_set_png_stream(ctx, ctypes.cast(reader, ctypes.c_void_p), None)
                or lib.spng_set_crc_action(ctx, _SPNG_CRC_USE, _SPNG_CRC_USE)
            )
        ):
            raise _SpngError("libspng setup failed")
        size = ctypes.c_size_t()
        fmt = _SPNG_FORMATS[mode]
        if lib.spng_decoded_image_size(ctx, fmt, ctypes.byref(size)) or size.value != row_bytes * height:
            raise _SpngError("libspng disagrees about the image size")
        if lib.spng_decode_image(ctx, None, 0, fmt, _SPNG_DECODE_PROGRESSIVE):
            raise _SpngError("libspng could not start decoding")
        decode_row = lib.spng_decode_row
        last = height - 1
        y0 = top  # first row of the strip being filled
        for y in range(height):
            inside = top <= y < bottom
            # Rows outside top..bottom go to the buffer's first row and are dropped.
            status = decode_row(ctx, base + (y - y0) * row_bytes if inside else base, row_bytes)
            if status and (status != _SPNG_EOI or y != last):
                raise _SpngError(f"libspng error {status} at row {y}")
            if inside and (y + 1 - y0 == strip_rows or y + 1 == bottom):
                rows = y + 1 - y0
                view = memoryview(buf)[: rows * row_bytes]
                # L and RGBA share the buffer (consumed before it is refilled); LA and RGB are unpacked.
                sink(y0, Image.frombuffer(mode, (width, rows), view, "raw", mode, 0, 1))
                y0 = y + 1
            if status:
                break
        else:
            raise _SpngError("libspng did not reach the end of the image")
    finally:
        lib.spng_ctx_free(ctx)


def _stream_reader(ctypes: Any, stored: StoredPng) -> Any:
    """A libspng read callback (``spng_rw_fn``) serving ``stored``; keep it alive while libspng reads."""

    def read(_ctx: int, _user: int, dest: int, length: int) -> int:
        try:
            if stored.read_into(dest, length) < length:
                return _SPNG_IO_EOF
        except Exception:  # CorruptPng, MemoryError...: libspng fails, Pillow decodes
            return _SPNG_IO_ERROR
        return 0

    kind = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    return kind(read)


def _png_trailer(opened: OpenedImage, src: _SpngSource) -> None:
    """Walk the chunks after the image data as Pillow's ``PngImageFile.load_end`` does.

    Starts after the first IDAT (Pillow's decoder may stop in any IDAT; the
    ones it did not read are skipped here as ``load_end`` skips them). Raises
    what Pillow would raise there. Works on a copy of the image's chunk reader
    (its state from the header: mode, text budget) so the image itself is
    untouched and can still be decoded by Pillow.
    """
    header = opened.image.png
    assert header is not None
    png = copy.copy(header)
    png.fp = fp = io.BytesIO(src.data)
    png.queue = []
    png.im_info = dict(header.im_info)
    png.im_text = dict(header.im_text)
    fp.seek(src.idat_end)
    try:
        while True:
            fp.read(4)  # CRC
            try:
                cid, pos, length = png.read()
            except (struct.error, SyntaxError):
                break
            if cid == b"IEND":
                break
            try:
                png.call(cid, pos, length)
            except UnicodeDecodeError:
                break
            except (EOFError, AttributeError):  # IDAT (EOFError) or an unknown chunk: skip it
                if length > 0 and len(fp.read(length)) < length:
                    if ImageFile.LOAD_TRUNCATED_IMAGES:
                        break
                    raise OSError("Truncated File Read") from None
    finally:
        png.close()


def execute_png(opened: OpenedImage, crop: tuple[int, int, int, int], out: tuple[int, int]) -> Image.Image | None:
    """The PNG path through libspng: the cropped, resized stored image, or None for Pillow's path."""
    src = _spng_source(opened)
    if src is None or libspng() is None:
        return None
    width, height, mode = src.width, src.height, src.mode
    decision = decide(crop, (width, height), 1, out)
    box = decision.box  # the crop itself (scale 1, inside the frame)
    out_w, out_h = out
    row_bytes = width * len(mode)
    resample = decision.filter
    factor_x, factor_y = decision.reduce
    try:
        if factor_x > 1 or factor_y > 1:
            # Image.resize(..., reducing_gap): [premultiply,] reduce over the safe box, filter.
            assert resample is not None
            support = _FILTER_SUPPORT[resample] - 0.5
            support_x = support * (box[2] - box[0]) / out_w
            support_y = support * (box[3] - box[1]) / out_h
            safe = (
                max(0, int(box[0] - support_x)),
                max(0, int(box[1] - support_y)),
                min(width, math.ceil(box[2] + support_x)),
                min(height, math.ceil(box[3] + support_y)),
            )
            work = _PREMULTIPLIED.get(mode, mode)
            reduced_size = (math.ceil((safe[2] - safe[0]) / factor_x), math.ceil((safe[3] - safe[1]) / factor_y))
            reduced = Image.new(work, reduced_size, None)  # not initialised: the strips cover every row
            strip_rows = factor_y * max(1, _SPNG_STRIP_BYTES // (row_bytes * factor_y))

            def reduce_strip(y: int, strip: Image.Image) -> None:
                if work != mode:
                    strip = strip.convert(work)
                part = strip.reduce((factor_x, factor_y), box=(safe[0], 0, safe[2], strip.size[1]))
                reduced.paste(part, (0, (y - safe[1]) // factor_y))

            _spng_decode(src, safe[1], safe[3], strip_rows, reduce_strip)
            _png_trailer_checked(opened, src)
            scaled = (
                (box[0] - safe[0]) / factor_x,
                (box[1] - safe[1]) / factor_y,
                (box[2] - safe[0]) / factor_x,
                (box[3] - safe[1]) / factor_y,
            )
            im = reduced.resize((out_w, out_h), resample, box=scaled)
            return im.convert(mode) if work != mode else im

        # No reduce step: assemble the frame (only the rows in the crop) and do what Pillow's path does.
        top, bottom = (crop[1], crop[3]) if decision.action is not Action.RESIZE else (0, height)
        frame = Image.new(mode, (width, bottom - top), None)  # not initialised: the strips cover every row
        _spng_decode(
            src,
            top,
            bottom,
            max(1, _SPNG_STRIP_BYTES // row_bytes),
            lambda y, strip: frame.paste(strip, (0, y - top)),
        )
        _png_trailer_checked(opened, src)
        if decision.action is Action.NOTHING:
            return frame
        if decision.action is Action.CROP:
            return frame.crop((crop[0], 0, crop[2], crop[3] - crop[1]))
        return frame.resize((out_w, out_h), resample, box=box, reducing_gap=REDUCING_GAP)
    except _SpngError:
        return None


def _png_trailer_checked(opened: OpenedImage, src: _SpngSource) -> None:
    try:
        _png_trailer(opened, src)
    except MemoryError:
        raise
    except LOAD_ERRORS as exc:
        raise UnsupportedImage("the source image is truncated or corrupt") from exc

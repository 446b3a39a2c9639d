"""A hostile-image corpus, generated in memory (nothing is downloaded).

Each :class:`Case` is the bytes of one hostile or awkward source and what the
service must answer with the limits of :data:`HARDENING_ENV`: a rendered
image (``status == 200``, with the expected size and, where it matters, the
colour of a marker) or a named 4xx. Used by the handler tests, the memory
test and the fuzz script (``tests/bench/fuzz_render.py``) as seeds.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from PIL import Image

from tests.conftest import as_stored

#: Limits the hardening tests run with (small, so the bombs are cheap to build).
MAX_SOURCE_PIXELS = 16_000_000
MAX_ANIMATION_FRAMES = 100
HARDENING_ENV = {
    "MAX_SOURCE_PIXELS": str(MAX_SOURCE_PIXELS),
    "MAX_ANIMATION_FRAMES": str(MAX_ANIMATION_FRAMES),
    "MAX_SOURCE_BYTES": str(8 * 1024 * 1024),
}


@dataclass(frozen=True)
class Case:
    """One source and the expected answer to ``/th?id=<name>&w=<query>``."""

    name: str
    data: bytes
    status: int
    code: str | None = None  # error code for a 4xx
    size: tuple[int, int] | None = None  # output size for a 200 with ``query``
    query: str = "w=64&h=64&p=0"
    #: (x, y, (r, g, b)) pixels of the output that must be near that colour.
    markers: tuple[tuple[int, int, tuple[int, int, int]], ...] = ()
    #: (x, y) pixels of the output that must be fully transparent.
    transparent: tuple[tuple[int, int], ...] = ()


def _save(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_raw(
    width: int, height: int, bit_depth: int, colour_type: int, row_bytes: int, rows: int | None = None
) -> bytes:
    """A PNG built chunk by chunk: an IHDR saying ``width``x``height`` and
    ``rows`` all-zero rows of IDAT (a truthful header when ``rows == height``)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + row_bytes)  # filter byte 0 + zero pixels
    parts = [comp.compress(row) for _ in range(height if rows is None else rows)]
    parts.append(comp.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


def _gif_frame_past_screen() -> bytes:
    """A 10x10 logical screen whose one frame descriptor claims 9000x9000."""
    header = b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, 9000, 9000, 0)
    lzw = b"\x02\x02\x44\x01\x00"  # minimum code size 2, one tiny sub-block
    return header + descriptor + lzw + b"\x3b"


def _jpeg(
    mode: str = "RGB", size: tuple[int, int] = (96, 64), colour: object = (200, 30, 30), **params: object
) -> bytes:
    return _save(Image.new(mode, size, colour), "JPEG", quality=90, **params)  # type: ignore[arg-type]


def _corrupt_huffman(jpeg: bytes) -> bytes:
    """Make the first DHT's 16 code-length counts impossible (sum > 256)."""
    at = jpeg.index(b"\xff\xc4")
    counts = at + 5  # marker(2) + length(2) + class/id(1)
    return jpeg[:counts] + b"\xff" * 16 + jpeg[counts + 16 :]


def _ycck(cmyk_jpeg: bytes) -> bytes:
    """Turn a CMYK JPEG's Adobe APP14 transform flag into 2 (YCCK)."""
    at = cmyk_jpeg.index(b"Adobe")
    transform = at + 11  # "Adobe" + version(2) + flags0(2) + flags1(2)
    return cmyk_jpeg[:transform] + b"\x02" + cmyk_jpeg[transform + 1 :]


def _jpeg_segments(data: bytes) -> list[bytes]:
    """Split a JPEG into SOI, marker segments and scans (SOS header + entropy data), EOI."""
    segments = [data[:2]]
    at = 2
    while at < len(data):
        marker = data[at + 1]
        if marker == 0xD9:
            segments.append(data[at : at + 2])
            break
        end = at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not FF00 or RSTn
            while True:
                end = data.index(b"\xff", end)
                if data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                    end += 2
                    continue
                break
        segments.append(data[at:end])
        at = end
    return segments


def jpeg_scan_bomb(side: int = 1024, repeats: int = 2000) -> bytes:
    """A progressive JPEG whose one data-less AC scan is repeated ``repeats`` times.

    Each repeat is a dozen bytes, but libjpeg walks every block of the
    component for every scan: a few megabytes of these take minutes to decode
    at camera sizes, below every pixel and byte limit.
    """
    noise = Image.merge("RGB", [Image.effect_noise((side, side), 50)] * 3)
    segments = _jpeg_segments(_save(noise, "JPEG", quality=90, progressive=True))
    scans = [n for n, seg in enumerate(segments) if seg[1] == 0xDA]
    empty = min(scans, key=lambda n: len(segments[n]))
    return b"".join(segments[: empty + 1]) + segments[empty] * repeats + b"".join(segments[empty + 1 :])


def quadrant_image(size: tuple[int, int] = (80, 60)) -> Image.Image:
    """Upright test picture: red top-left quarter on blue, so orientation is visible."""
    im = Image.new("RGB", size, (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, size[0] // 2, size[1] // 2))
    return im


def oriented_jpeg(orientation: int) -> bytes:
    """A JPEG whose stored pixels need EXIF ``orientation`` to look like :func:`quadrant_image`."""
    upright = quadrant_image()
    stored = as_stored(upright, orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(stored, "JPEG", quality=95, exif=exif.tobytes())


def _animated_gif(frames: int) -> bytes:
    first = Image.new("P", (80, 60), 0)
    first.putpalette([0, 200, 0, 200, 0, 0] + [0] * 762)
    rest = []
    for i in range(1, frames):
        f = Image.new("P", (80, 60), 1)
        f.putpalette([0, 200, 0, 200, 0, 0] + [0] * 762)
        f.putpixel((i % 80, 0), 0)
        rest.append(f)
    return _save(first, "GIF", save_all=True, append_images=rest, duration=20, loop=0, optimize=False)


def _multipage_tiff(pages: int) -> bytes:
    first = Image.new("RGB", (80, 60), (0, 0, 200))
    rest = [Image.new("RGB", (80, 60), (200, 200, 0)) for _ in range(pages - 1)]
    return _save(first, "TIFF", save_all=True, append_images=rest, compression="tiff_deflate")


def _animated_webp() -> bytes:
    frames = [Image.new("RGB", (80, 60), c) for c in ((0, 0, 220), (220, 0, 0), (0, 220, 0))]
    return _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50, lossless=True)


def _palette_png_with_transparency() -> bytes:
    im = Image.new("P", (80, 60), 0)
    im.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    im.paste(1, (0, 0, 40, 60))
    return _save(im, "PNG", transparency=0)


def _ztxt_bomb() -> bytes:
    """A small PNG with a zTXt chunk that inflates to 64 MB."""
    im = _save(Image.new("RGB", (8, 8), (10, 10, 10)), "PNG")
    text = b"Comment\0\0" + zlib.compress(b"A" * (64 * 1024 * 1024), 9)
    iend = im.rindex(b"IEND") - 4
    return im[:iend] + _png_chunk(b"zTXt", text) + im[iend:]


_SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">'
    b'<rect width="4" height="4"/></svg>'
)
_EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"


def _bmp_huge_header() -> bytes:
    """A BMP header claiming 60000x60000 at 24 bits, with 16 bytes of pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, 60000, 60000, 1, 24, 0, 0, 2835, 2835, 0, 0)
    pixels = b"\0" * 16
    header = b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info))
    return header + info + pixels


def _builders() -> list[Callable[[], Case]]:
    jpeg = _jpeg()
    # Noise, so the truncated copies are cut in the middle of real entropy-coded data.
    noise = Image.merge("RGB", [Image.effect_noise((96, 64), 60)] * 3)
    noisy_jpeg = _save(noise, "JPEG", quality=90)
    noisy_png = _save(noise, "PNG")
    return [
        lambda: Case("empty.jpg", b"", 415, "UnsupportedImage"),
        lambda: Case("text.jpg", b"this is not an image\n" * 20, 415, "UnsupportedImage"),
        lambda: Case("truncated.jpg", noisy_jpeg[: len(noisy_jpeg) // 2], 415, "UnsupportedImage"),
        lambda: Case("header-only.jpg", jpeg[:200], 415, "UnsupportedImage"),
        lambda: Case("truncated.png", noisy_png[: len(noisy_png) // 2], 415, "UnsupportedImage"),
        lambda: Case("claims-100000.png", png_raw(100_000, 100_000, 8, 2, 300_000, rows=1), 413, "SourceTooLarge"),
        # 20000x20000 1-bit, all zero: 400 Mpx in ~50 kB.
        lambda: Case("bomb.png", png_raw(20_000, 20_000, 1, 0, 2500), 413, "SourceTooLarge"),
        # 8000x8000 palette GIF, all zero: 64 Mpx in ~50 kB.
        lambda: Case("bomb.gif", _save(Image.new("P", (8000, 8000), 0), "GIF"), 413, "SourceTooLarge"),
        lambda: Case("frame-past-screen.gif", _gif_frame_past_screen(), 413, "SourceTooLarge"),
        lambda: Case("huge-header.bmp", _bmp_huge_header(), 413, "SourceTooLarge"),
        lambda: Case("ztxt-bomb.png", _ztxt_bomb(), 415, "UnsupportedImage"),
        lambda: Case("bad-huffman.jpg", _corrupt_huffman(jpeg), 415, "UnsupportedImage"),
        lambda: Case("scan-bomb.jpg", jpeg_scan_bomb(), 413, "SourceTooLarge"),
        lambda: Case(
            "cmyk.jpg",
            _jpeg("CMYK", colour=(0, 255, 255, 0)),
            200,
            size=(64, 43),
            markers=((32, 20, (255, 0, 0)),),
        ),
        lambda: Case("ycck.jpg", _ycck(_jpeg("CMYK", colour=(0, 255, 255, 0))), 200, size=(64, 43)),
        lambda: Case(
            "grey16.png",
            _save(Image.new("I;16", (96, 64), 65535), "PNG"),
            200,
            size=(64, 43),
            markers=((32, 20, (255, 255, 255)),),
        ),
        lambda: Case(
            "bilevel.png", _save(Image.new("1", (96, 64), 0), "PNG"), 200, size=(64, 43), markers=((5, 5, (0, 0, 0)),)
        ),
        lambda: Case(
            "palette-alpha.png",
            _palette_png_with_transparency(),
            200,
            size=(64, 48),
            query="w=64&h=64&p=0",
            markers=((16, 24, (0, 200, 0)),),
            transparent=((48, 24),),
        ),
        lambda: Case("animated.gif", _animated_gif(60), 200, size=(64, 48), markers=((32, 30, (0, 200, 0)),)),
        # Over MAX_ANIMATION_FRAMES: the first frame (said in X-Smartthumb-Animation), not a refusal.
        lambda: Case(
            "too-many-frames.gif",
            _animated_gif(MAX_ANIMATION_FRAMES + 20),
            200,
            size=(64, 48),
            markers=((32, 30, (0, 200, 0)),),
        ),
        lambda: Case("still.webp", _save(Image.new("RGB", (96, 64), (0, 0, 220)), "WEBP"), 200, size=(64, 43)),
        lambda: Case("animated.webp", _animated_webp(), 200, size=(64, 48), markers=((32, 24, (0, 0, 220)),)),
        lambda: Case("pages.tiff", _multipage_tiff(20), 200, size=(64, 48), markers=((32, 24, (0, 0, 200)),)),
        lambda: Case("too-many-pages.tiff", _multipage_tiff(MAX_ANIMATION_FRAMES + 5), 413, "SourceTooLarge"),
        lambda: Case("drawing.svg", _SVG, 415, "UnsupportedImage"),
        lambda: Case("document.pdf", _save(Image.new("RGB", (80, 60), "white"), "PDF"), 415, "UnsupportedImage"),
        lambda: Case("postscript.eps", _EPS, 415, "UnsupportedImage"),
        lambda: Case("icon.ico", _save(Image.new("RGB", (32, 32), "red"), "ICO"), 415, "UnsupportedImage"),
        *[
            (
                lambda o=o: Case(
                    f"orientation-{o}.jpg",
                    oriented_jpeg(o),
                    200,
                    size=(64, 48),
                    markers=((8, 6, (255, 0, 0)), (56, 42, (0, 0, 255)), (56, 6, (0, 0, 255))),
                )
            )
            for o in range(1, 9)
        ],
    ]


@cache
def corpus() -> tuple[Case, ...]:
    """All cases, built once per process."""
    return tuple(build() for build in _builders())


def case(name: str) -> Case:
    return next(c for c in corpus() if c.name == name)


def bomb_names() -> tuple[str, ...]:
    return ("claims-100000.png", "bomb.png", "bomb.gif", "frame-past-screen.gif", "huge-header.bmp", "ztxt-bomb.png")

"""Genuine large sources (real scan data, not patched headers), generated on the fly.

Unlike :mod:`tests.hardening.floods`' progressive files (a 16x16 image whose SOF
says 100 Mpx), these decode every block: what a camera-size upload really costs
in CPU. Content is noise tiled in 1000-pixel squares at a low quality, so a
100 Mpx file stays under the 50 MiB source limit while the entropy decoder has
real work on every block; PNG rows are a short random run repeated, so the
file is small but every row inflates to its full width (``zeros``: the slowest
to inflate, distance-1 matches).

``python -m tests.hardening.genuine DIR [NAME...]`` writes them (default: all).
"""

from __future__ import annotations

import io
import os
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image

TILE = 1000


def _noise(side: int, mode: str) -> Image.Image:
    bands = {"RGB": 3, "CMYK": 4}[mode]
    tile = Image.merge(mode, [Image.effect_noise((TILE, TILE), 40).convert("L") for _ in range(bands)])
    im = Image.new(mode, (side, side))
    for y in range(0, side, TILE):
        for x in range(0, side, TILE):
            im.paste(tile, (x, y))
    return im


def jpeg(mpx: int, mode: str = "RGB", *, progressive: bool = True, subsampling: int = 0, quality: int = 40) -> bytes:
    """A genuine ``mpx`` megapixel JPEG (square) of tiled noise."""
    side = int((mpx * 1_000_000) ** 0.5)
    out = io.BytesIO()
    _noise(side, mode).save(out, "JPEG", quality=quality, progressive=progressive, subsampling=subsampling)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _rows(width: int, height: int, bytes_per_pixel: int, seed: int) -> Callable[[int], bytes]:
    """Row ``y`` of a pass: a 1 KB random run repeated (small compressed, full-size inflated)."""
    run = os.urandom(1024) if seed else b""

    def row(y: int) -> bytes:
        n = width * bytes_per_pixel
        if not run:
            return b"\0" * (n + 1)
        start = (y * 7) % len(run)
        rotated = run[start:] + run[:start]
        return b"\0" + (rotated * (n // len(rotated) + 1))[:n]

    return row


#: Adam7 passes: (x0, y0, dx, dy).
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png(mpx: int, *, bits: int = 16, colour: int = 6, interlaced: bool = False, zeros: bool = False) -> bytes:
    """A genuine ``mpx`` megapixel PNG (RGBA 16-bit by default; ``interlaced``: Adam7; ``zeros``: every
    sample 0, which zlib inflates slowest, one byte at a time from distance-1 matches)."""
    side = int((mpx * 1_000_000) ** 0.5)
    channels = {0: 1, 2: 3, 6: 4}[colour]
    bpp = channels * bits // 8
    comp = zlib.compressobj(6)
    parts = []
    passes = ADAM7 if interlaced else ((0, 0, 1, 1),)
    for x0, y0, dx, dy in passes:
        pw, ph = -(-(side - x0) // dx), -(-(side - y0) // dy)
        if pw <= 0 or ph <= 0:
            continue
        row = _rows(pw, ph, bpp, seed=0 if zeros else 1)
        parts.extend(comp.compress(row(y)) for y in range(ph))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, bits, colour, 0, 0, 1 if interlaced else 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


#: The classes of issue 11's "genuine" finding, and the ordinary photos that must keep working.
CLASSES: dict[str, Callable[[], bytes]] = {
    "prog-444-100mpx.jpg": lambda: jpeg(100),
    "prog-cmyk-100mpx.jpg": lambda: jpeg(100, "CMYK", quality=10),
    "png16-100mpx.png": lambda: png(100),
    "png16-zeros-100mpx.png": lambda: png(100, zeros=True),
    "interlaced-100mpx.png": lambda: png(100, bits=8, colour=2, interlaced=True),
    "interlaced-zeros-100mpx.png": lambda: png(100, bits=8, colour=2, interlaced=True, zeros=True),
    "plain8-zeros-100mpx.png": lambda: png(100, bits=8, colour=2, zeros=True),
    "prog-420-24mpx.jpg": lambda: jpeg(24, subsampling=2),
    "prog-444-24mpx.jpg": lambda: jpeg(24),
    "prog-420-48mpx.jpg": lambda: jpeg(48, subsampling=2),
    "prog-444-48mpx.jpg": lambda: jpeg(48),
    "baseline-420-50mpx.jpg": lambda: jpeg(50, progressive=False, subsampling=2),
}


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[2:] or list(CLASSES):
        data = CLASSES[name]()
        (folder / name).write_bytes(data)
        print(f"{name}: {len(data) / 2**20:.1f} MiB", flush=True)

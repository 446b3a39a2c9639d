"""Estimated against measured CPU and memory for GIF, TIFF, WebP, AVIF and HEIC (the OTHER_MS figures).

``PYTHONPATH=layers/imaging/python:. .venv/bin/python -m tests.hardening.measure_other_cpu``
(about 3 minutes: encoding the HEIC and AVIF files is most of it)

Each class is generated (nothing read from disk): a *flat* frame (one
colour or a gradient: the least coded data, so the per-Mpx floor of the
decode) at 25 and 50 Mpx (WebP also 100), and a *textured* 16 Mpx frame (upsampled noise
plus grain: what each MiB of coded data adds). Each goes through the
ThumbnailFunction's ``/th?w=100`` door in ``capped_child`` at 4,096 MB with
the CPU budget off, so the whole call's CPU (``getrusage``) and resident
peak are what a real request costs. Printed: the file's MiB, the estimate
(``structure.decode_cpu_ms``), the measured CPU, and the peak's growth in
bytes per pixel against ``BYTES_PER_PIXEL``.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from smartthumb import structure
from smartthumb.structure import budget
from tests.conftest import image_bytes
from tests.formats.sources import avif_bytes, heic_bytes
from tests.hardening.floods import flat_lossless_webp
from tests.hardening.test_capped_memory import run_capped


def flat(side: int, alpha: bool = False) -> Image.Image:
    ramp = np.linspace(0, 255, side, dtype=np.uint8)
    im = Image.fromarray(np.broadcast_to(ramp[None, :, None], (side, side, 3)).copy())
    if alpha:
        im.putalpha(200)
    return im


def textured(side: int = 4000, alpha: bool = False) -> Image.Image:
    rng = np.random.default_rng(1)
    coarse = Image.fromarray(rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8))
    grain = rng.integers(-20, 20, (side, side, 3))
    pixels = np.asarray(coarse.resize((side, side), Image.Resampling.BILINEAR)).astype(np.int16) + grain
    im = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    if alpha:
        im.putalpha(200)
    return im


F25, F50 = 5000, 7071
CLASSES: dict[str, Callable[[], bytes]] = {
    "gif flat 25 Mpx": lambda: image_bytes(Image.new("P", (F25, F25), 0), "GIF"),
    "gif flat 100 Mpx": lambda: image_bytes(Image.new("P", (10_000, 10_000), 0), "GIF"),
    "gif textured 16 Mpx": lambda: image_bytes(textured().quantize(256), "GIF"),
    "tiff deflate flat 25 Mpx": lambda: image_bytes(
        Image.new("RGB", (F25, F25)), "TIFF", compression="tiff_adobe_deflate"
    ),
    "tiff deflate flat 100 Mpx": lambda: image_bytes(
        Image.new("RGB", (10_000, 10_000)), "TIFF", compression="tiff_adobe_deflate"
    ),
    "tiff jpeg flat 100 Mpx": lambda: image_bytes(flat(10_000), "TIFF", compression="tiff_jpeg", quality=90),
    "tiff deflate textured 16 Mpx": lambda: image_bytes(textured(), "TIFF", compression="tiff_adobe_deflate"),
    "tiff jpeg textured 16 Mpx": lambda: image_bytes(textured(), "TIFF", compression="tiff_jpeg", quality=90),
    "tiff raw textured 16 Mpx": lambda: image_bytes(textured(), "TIFF"),
    "bmp textured 16 Mpx": lambda: image_bytes(textured(), "BMP"),
    "webp lossy flat 25 Mpx": lambda: image_bytes(flat(F25), "WEBP", quality=80, method=0),
    "webp lossy flat 50 Mpx": lambda: image_bytes(flat(F50), "WEBP", quality=80, method=0),
    "webp lossless flat 25 Mpx": lambda: flat_lossless_webp(F25, F25),
    "webp lossless flat 50 Mpx": lambda: flat_lossless_webp(F50, F50),
    "webp lossy alpha flat 25 Mpx": lambda: image_bytes(flat(F25, True), "WEBP", quality=80, method=0),
    "webp lossy alpha flat 50 Mpx": lambda: image_bytes(flat(F50, True), "WEBP", quality=80, method=0),
    "webp lossless alpha flat 25 Mpx": lambda: image_bytes(
        Image.new("RGBA", (F25, F25), (1, 2, 3, 100)), "WEBP", lossless=True, method=0
    ),
    "webp lossless alpha flat 50 Mpx": lambda: image_bytes(
        Image.new("RGBA", (F50, F50), (1, 2, 3, 100)), "WEBP", lossless=True, method=0
    ),
    "webp lossy flat 100 Mpx": lambda: image_bytes(flat(10_000), "WEBP", quality=80, method=0),
    "webp lossless flat 100 Mpx": lambda: flat_lossless_webp(10_000, 10_000),
    "webp lossy alpha flat 100 Mpx": lambda: image_bytes(flat(10_000, True), "WEBP", quality=80, method=0),
    "webp lossless alpha flat 100 Mpx": lambda: image_bytes(
        Image.new("RGBA", (10_000, 10_000), (1, 2, 3, 100)), "WEBP", lossless=True, method=0
    ),
    "webp lossy textured 16 Mpx": lambda: image_bytes(textured(), "WEBP", quality=90, method=0),
    "webp lossless textured 16 Mpx": lambda: image_bytes(textured(), "WEBP", lossless=True, method=0),
    "webp lossy alpha textured 16 Mpx": lambda: image_bytes(textured(alpha=True), "WEBP", quality=90, method=0),
    "webp lossless alpha textured 16 Mpx": lambda: image_bytes(textured(alpha=True), "WEBP", lossless=True, method=0),
    "avif flat 25 Mpx": lambda: avif_bytes(flat(F25), quality=50),
    "avif textured 16 Mpx": lambda: avif_bytes(textured(), quality=90),
    "heic flat 25 Mpx": lambda: heic_bytes(flat(F25), quality=50),
    "heic textured 16 Mpx": lambda: heic_bytes(textured(), quality=90),
}


def main(names: list[str]) -> None:
    chosen = names or list(CLASSES)
    with tempfile.TemporaryDirectory() as folder:
        paths, rows = [], {}
        for k, name in enumerate(chosen):
            data = CLASSES[name]()
            facts = structure.scan(data, 100)
            path = Path(folder) / f"c{k}.img"
            path.write_bytes(data)
            paths.append(path)
            rows[path.name] = (name, data, facts)
        measured = run_capped("th", 4096, paths, {"MAX_DECODE_CPU_MS": "0"})
    print(f"{'class':38} {'MiB':>5} {'estimate':>8} {'measured':>8}  {'B/px':>5} (budget's)")
    for row in measured:
        name, data, facts = rows[row["name"]]
        estimate = budget.decode_cpu_ms(facts, len(data))
        per_pixel = (row["peak_mb"] - row["rss_mb"]) * 2**20 / max(facts.pixels, 1)
        bound = budget.BYTES_PER_PIXEL.get(facts.format, 0.0)
        print(
            f"{name:38} {len(data) / 2**20:5.1f} {estimate:8d} {row['cpu_ms']:8.0f}  {per_pixel:5.1f} ({bound:g})"
            f"  {row['outcome']}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])

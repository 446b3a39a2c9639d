#!/usr/bin/env python
"""Calibrate ``qlt`` across formats: the WebP and AVIF qualities whose SSIM equals JPEG's.

A script, not a test. From the repository root::

    .venv/bin/python tests/bench/calibrate_quality.py

For each bundled sample photo shrunk to 480 px (a typical thumbnail), every
quality 10..100 of each format is encoded with the settings the service uses
(JPEG 4:2:0, WebP method 4, AVIF at ``smartthumb.quality.AVIF_SPEED``) and
scored by mean SSIM (greyscale, scikit-image) against the unencoded pixels.
The table printed is, for each JPEG quality, the WebP and AVIF qualities of
the same mean SSIM (linear interpolation), i.e. ``smartthumb.quality.QUALITY_MAP``.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "layers" / "imaging" / "python"))

from smartthumb.quality import AVIF_SPEED, WEBP_METHOD  # noqa: E402

SAMPLES = sorted((ROOT / "layers" / "imaging" / "python" / "smartthumb" / "samples").glob("*.jpg"))
SETTINGS = {"JPEG": {"subsampling": "4:2:0"}, "WEBP": {"method": WEBP_METHOD}, "AVIF": {"speed": AVIF_SPEED}}
GRID = list(range(10, 101, 5))


def mean_ssim(images: list[Image.Image], fmt: str, quality: int) -> tuple[float, int]:
    scores, size = [], 0
    for im in images:
        buf = io.BytesIO()
        im.save(buf, fmt, quality=quality, **SETTINGS[fmt])
        size += buf.tell()
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"), dtype=np.float64)
        ref = np.asarray(im.convert("L"), dtype=np.float64)
        scores.append(structural_similarity(ref, out, data_range=255))
    return float(np.mean(scores)), size


def main() -> None:
    images = []
    for path in SAMPLES:
        im = Image.open(path).convert("RGB")
        im.thumbnail((480, 480), Image.Resampling.LANCZOS)
        images.append(im)
    curves = {fmt: [mean_ssim(images, fmt, q) for q in GRID] for fmt in SETTINGS}
    print("jpeg  ssim    bytes | webp  bytes | avif  bytes")
    for i, q in enumerate(GRID):
        target, jpeg_bytes = curves["JPEG"][i]
        row = [f"{q:4d} {target:.4f} {jpeg_bytes:7d}"]
        for fmt in ("WEBP", "AVIF"):
            ssims = np.maximum.accumulate([s for s, _ in curves[fmt]])  # monotone for interpolation
            sizes = [b for _, b in curves[fmt]]
            mapped = float(np.interp(target, ssims, GRID))
            row.append(f"{round(mapped):4d} {round(float(np.interp(mapped, GRID, sizes))):6d}")
        print(" | ".join(row))


if __name__ == "__main__":
    main()

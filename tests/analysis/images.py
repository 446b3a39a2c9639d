"""Helpers for the analysis tests: sample photos and synthetic images."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "layers" / "imaging" / "python" / "smartthumb" / "samples"


def skimage_data(name: str) -> Path:
    """A file from scikit-image's bundled data (a test-only dependency)."""
    import skimage

    return Path(os.path.dirname(skimage.__file__)) / "data" / name


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def encode(image: Image.Image | np.ndarray, fmt: str = "JPEG", **params: object) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()

"""Every format Pillow can write, in every mode it writes, through ``GET /th``: a thumbnail or a named 415.

The corpus (``corpus.py``) holds the hostile files one by one; this is the
breadth a user's bucket has: odd modes (CMYK, LAB, HSV, 16-bit, float,
premultiplied) and formats the service does not serve (DDS, ICNS, JPEG 2000,
PDF, ...), each of which must be a 200 with a decodable body when served, or
415 ``UnsupportedImage`` -- never a 500.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.hardening.conftest import body_image, error_of, shared_function
from tests.hardening.corpus import HARDENING_ENV

#: Formats /th serves (MPO is served as JPEG; AVIF and HEIF through their openers).
SERVED = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "TIFF", "BMP", "AVIF", "HEIF")
REFUSED = ("DDS", "DIB", "ICNS", "ICO", "IM", "JPEG2000", "MSP", "PCX", "PDF", "PPM", "QOI", "SGI", "SPIDER", "TGA")
MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
MODES += ("I", "I;16", "F")
SIZES = ((1, 1), (1, 300), (257, 129))
QUERIES = ("w=64&h=64&p=0", "w=30&h=50&c=4", "h=40")


def _image(mode: str, size: tuple[int, int]) -> Image.Image:
    pixels = np.random.default_rng(7).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    rgb = Image.fromarray(pixels)
    if mode in ("La", "RGBa"):
        return rgb.convert("RGBA").convert(mode)
    if mode == "I;16":
        return rgb.convert("L").convert("I").convert(mode)
    return rgb.convert(mode)


def _files(fmt: str) -> list[tuple[str, bytes]]:
    """(label, bytes) for every mode and size Pillow saves as ``fmt``."""
    out = []
    for mode in MODES:
        for size in SIZES:
            buf = io.BytesIO()
            try:
                _image(mode, size).save(buf, fmt)
            except (OSError, ValueError, KeyError, TypeError):
                continue  # Pillow cannot write this mode in this format
            out.append((f"{mode}-{size[0]}x{size[1]}", buf.getvalue()))
    return out


@pytest.fixture(scope="module")
def fn():
    with shared_function(**HARDENING_ENV) as shared:
        yield shared


@pytest.mark.parametrize("fmt", SERVED + REFUSED)
def test_every_mode_of_every_writable_format(fn, fmt: str) -> None:
    if fmt == "HEIF":
        import pillow_heif  # dev dependency: the HEIF encoder (the layer's pi-heif only decodes)

        pillow_heif.register_heif_opener()
    files = _files(fmt)
    assert files, f"Pillow wrote no {fmt} file: the matrix would test nothing"
    for label, data in files:
        image_id = f"matrix-{fmt}-{label}".replace(";", "_")
        fn.put(image_id, data)
        for query in QUERIES:
            result = fn.get(f"/th?id={image_id}&{query}")
            where = (fmt, label, query, result.get("body", "")[:200])
            if fmt in SERVED:
                assert result["statusCode"] == 200, where
                body_image(result)  # decodes completely
            else:
                assert result["statusCode"] == 415, where
                assert error_of(result)["code"] == "UnsupportedImage", where

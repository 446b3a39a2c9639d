"""HEIC and AVIF test sources, generated in the test.

HEIC is written with pillow-heif (a dev-only dependency: its wheel carries the
x265 encoder, GPL-2.0, so it stays out of the runtime and the layer, which
decode with pi-heif). AVIF is written by Pillow's own AVIF plugin.
"""

from __future__ import annotations

import io

from PIL import Image


def heic_bytes(image: Image.Image, *, orientation: int = 1, quality: int = 90) -> bytes:
    """``image`` as HEIC; ``orientation`` is written as EXIF (pillow-heif turns it into ``irot``/``imir``)."""
    import pillow_heif  # dev dependency: the encoder

    params: dict[str, object] = {"quality": quality}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        params["exif"] = exif.tobytes()
    buf = io.BytesIO()
    pillow_heif.from_pillow(image).save(buf, **params)
    return buf.getvalue()


def avif_bytes(image: Image.Image, *, orientation: int = 1, quality: int = 90) -> bytes:
    """``image`` as AVIF (Pillow); ``orientation`` is written as EXIF, the pixels stay as stored."""
    params: dict[str, object] = {"quality": quality}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        params["exif"] = exif.tobytes()
    buf = io.BytesIO()
    image.save(buf, "AVIF", **params)
    return buf.getvalue()

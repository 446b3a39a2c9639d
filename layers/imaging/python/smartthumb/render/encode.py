"""Choose the output format and encode: JPEG, PNG or WebP with no EXIF, GPS or XMP.

The client's ``Accept`` header is parsed at the HTTP edge
(:mod:`smartthumb.accept`); :func:`choose_format` receives the formats the
client listed. An ICC profile is written only when it is small and standard
(:mod:`~smartthumb.render.icc`) and its colour space matches the output
pixels (a profile that does not match is dropped rather than written wrongly).
"""

from __future__ import annotations

import io
from collections.abc import Collection

from PIL import Image

from smartthumb.config import Settings
from smartthumb.errors import OutputTooLarge
from smartthumb.render.icc import keep
from smartthumb.render.open import OpenedImage, keeps_alpha

CONTENT_TYPES: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def choose_format(
    opened: OpenedImage, accepted: Collection[str], settings: Settings, pad_color: tuple[int, int, int, int]
) -> str:
    """``"WEBP"`` if enabled and in ``accepted``, else ``"PNG"`` when alpha is kept, else ``"JPEG"``.

    ``accepted`` holds the output formats the client named explicitly
    (:func:`smartthumb.accept.accepted_formats`).
    """
    if settings.enable_webp and "WEBP" in accepted:
        return "WEBP"
    return "PNG" if keeps_alpha(opened, pad_color) else "JPEG"


_ICC_SPACE = {"RGB": b"RGB ", "RGBA": b"RGB ", "L": b"GRAY", "LA": b"GRAY"}


def _icc_for(image: Image.Image, icc: bytes | None) -> bytes | None:
    """The profile if it is small and standard (:func:`~smartthumb.render.icc.keep`)
    and its colour space matches the pixels, else None."""
    if not keep(icc):
        return None
    assert icc is not None
    return icc if icc[16:20] == _ICC_SPACE.get(image.mode) else None


def _save(image: Image.Image, fmt: str, quality: int, icc: bytes | None, level: int = 3) -> bytes:
    buf = io.BytesIO()
    params: dict[str, object] = {}
    if icc:
        params["icc_profile"] = icc
    if fmt == "JPEG":
        params.update(
            quality=quality,
            optimize=False,
            progressive=False,
            # Chroma subsampling is invisible at normal qualities and halves the
            # work; at 90+ the caller asked for fidelity.
            subsampling="4:4:4" if quality >= 90 else "4:2:0",
        )
    elif fmt == "WEBP":
        params.update(quality=quality, method=4)
    elif fmt == "PNG":
        params.update(compress_level=level)
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    # Pillow's PNG writer falls back to image.info for the ICC profile and
    # transparency: save with an empty info so only what we pass is written.
    saved_info, image.info = image.info, {}
    try:
        image.save(buf, fmt, **params)
    finally:
        image.info = saved_info
    return buf.getvalue()


def encode(image: Image.Image, fmt: str, quality: int, icc_profile: bytes | None, max_bytes: int) -> bytes:
    """Encode without EXIF/GPS/XMP; keep ``icc_profile`` when it fits the pixels.

    JPEG flattens any alpha onto white. Over ``max_bytes``, JPEG and WebP are
    retried at lower qualities and PNG at the highest compression; still too
    large raises :class:`OutputTooLarge`.
    """
    fmt = fmt.upper()
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        if image.mode in ("RGBA", "LA", "RGBa", "La", "PA", "P"):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, (0, 0), rgba)
            image = flat
        else:
            image = image.convert("RGB")
    icc = _icc_for(image, icc_profile)
    quality = max(1, min(100, int(quality)))

    data = _save(image, fmt, quality, icc)
    if len(data) <= max_bytes:
        return data
    if fmt == "PNG":
        data = _save(image, fmt, quality, icc, level=9)
    else:
        for q in (quality * 3 // 4, quality // 2, quality // 4):
            if q < 10:
                break
            data = _save(image, fmt, q, icc)
            if len(data) <= max_bytes:
                return data
    if len(data) <= max_bytes:
        return data
    raise OutputTooLarge(f"the encoded thumbnail is over {max_bytes} bytes; ask for a smaller size")

"""Choose the output format and encode: JPEG, PNG or WebP with no EXIF, GPS or XMP.

The client's ``Accept`` header is parsed at the HTTP edge
(:mod:`smartthumb.accept`); :func:`choose_format` receives the formats the
client listed. An ICC profile is written only when it is small and standard
(:mod:`~smartthumb.render.icc`) and its colour space matches the output
pixels (a profile that does not match is dropped rather than written wrongly).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Collection

from PIL import Image

from smartthumb import heif_header, heif_plugins, negotiation
from smartthumb.config import Settings
from smartthumb.errors import OutputTooLarge
from smartthumb.limits import Deadline
from smartthumb.quality import AVIF_SPEED, WEBP_METHOD, output_quality
from smartthumb.render.icc import keep
from smartthumb.render.open import OpenedImage, keeps_alpha

CONTENT_TYPES: dict[str, str] = negotiation.CONTENT_TYPES


def format_switches(settings: Settings) -> negotiation.FormatSwitches:
    return negotiation.FormatSwitches(avif=settings.enable_avif, webp=settings.enable_webp)


def choose_format(
    opened: OpenedImage,
    accepted: Collection[str],
    settings: Settings,
    pad_color: tuple[int, int, int, int],
    *,
    animated: bool = False,
) -> str:
    """AVIF > WebP > PNG (alpha kept) or JPEG, by :mod:`smartthumb.negotiation`'s rule.

    ``accepted`` holds the output formats the client named explicitly
    (:func:`smartthumb.accept.accepted_formats`); ``animated``: the frames are
    kept (then animated WebP or GIF).
    """
    return negotiation.choose(
        accepted, format_switches(settings), alpha=keeps_alpha(opened, pad_color), animated=animated
    )


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
        params.update(quality=quality, method=WEBP_METHOD)
    elif fmt == "AVIF":
        heif_plugins.ensure_plugin(heif_header.AVIF)
        params.update(quality=quality, speed=AVIF_SPEED)
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


#: Outputs of at least this many pixels are predicted before the full encode:
#: four 256 px tiles (from the quadrants' centres) are encoded as one 512 x 512
#: mosaic, and their bytes and time per pixel scaled to the whole image.
PREDICT_FROM_PIXELS = 1_000_000
_TILE = 256
#: A full encode is skipped when the mosaic predicts more than this times the cap.
PREDICTION_MARGIN = 1.3


def _mosaic(image: Image.Image) -> Image.Image:
    w, h = image.size
    tiles = Image.new(image.mode, (2 * _TILE, 2 * _TILE))
    for k, (fx, fy) in enumerate(((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75))):
        x, y = int(w * fx) - _TILE // 2, int(h * fy) - _TILE // 2
        tiles.paste(image.crop((x, y, x + _TILE, y + _TILE)), ((k % 2) * _TILE, (k // 2) * _TILE))
    return tiles


def _attempts(fmt: str, quality: int) -> list[tuple[int, int]]:
    """(quality, PNG level) in the order they are tried."""
    if fmt == "PNG":
        return [(quality, 3), (quality, 9)]
    lower = [q for q in (quality * 3 // 4, quality // 2, quality // 4) if q >= 10]
    return [(quality, 3)] + [(q, 3) for q in lower]


def encode(
    image: Image.Image,
    fmt: str,
    quality: int,
    icc_profile: bytes | None,
    max_bytes: int,
    *,
    deadline: Deadline | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> bytes:
    """Encode without EXIF/GPS/XMP; keep ``icc_profile`` when it fits the pixels.

    JPEG flattens any alpha onto white. Over ``max_bytes``, JPEG and WebP are
    retried at lower qualities and PNG at the highest compression; still too
    large raises :class:`OutputTooLarge`. For a large output each attempt is
    first predicted from a small mosaic of the image: an attempt predicted to
    miss the cap is skipped (so a hopeless one is a 413 without any full-size
    encode: a 4096x4096 noise WebP used to take four, ~10 s), and the
    predicted time of each full encode is required of ``deadline`` (503).
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
    quality = output_quality(fmt, quality)  # qlt is on JPEG's scale (smartthumb.quality)
    pixels = image.size[0] * image.size[1]
    sample = _mosaic(image) if pixels >= PREDICT_FROM_PIXELS else None

    for q, level in _attempts(fmt, quality):
        predicted_ms = 0.0
        if sample is not None:
            started = clock()
            sample_bytes = len(_save(sample, fmt, q, None, level=level))
            scale = pixels / (sample.size[0] * sample.size[1])
            predicted_ms = (clock() - started) * 1000 * scale
            if sample_bytes * scale > max_bytes * PREDICTION_MARGIN:
                continue  # this attempt would not fit: do not pay for it
        if deadline is not None:
            deadline.require(predicted_ms)
        data = _save(image, fmt, q, icc, level=level)
        if len(data) <= max_bytes:
            return data
    raise OutputTooLarge(f"the encoded thumbnail is over {max_bytes} bytes; ask for a smaller size")

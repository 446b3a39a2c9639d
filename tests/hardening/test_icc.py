"""ICC profiles: small standard ones travel, large or odd ones are applied and dropped."""

from __future__ import annotations

import io
import struct

from PIL import Image, ImageCms

from smartthumb.config import Settings
from smartthumb.geometry import CropMode
from smartthumb.render import render_bytes
from smartthumb.render.icc import MAX_KEPT_ICC_BYTES, keep
from smartthumb.request import ThumbRequest
from tests.conftest import image_bytes

REQUEST = ThumbRequest(id="x", width=40, height=30, crop=CropMode.NONE)


def _srgb() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _padded(profile: bytes, size: int) -> bytes:
    """A valid profile grown to ``size`` bytes (trailing padding, header size updated)."""
    grown = profile + b"\0" * (size - len(profile))
    return struct.pack(">I", size) + grown[4:]


def _output_icc(body: bytes) -> bytes | None:
    return Image.open(io.BytesIO(body)).info.get("icc_profile")


def test_a_small_standard_profile_is_kept() -> None:
    srgb = _srgb()
    assert keep(srgb)
    body, _ = render_bytes(
        image_bytes(Image.new("RGB", (80, 60), (200, 40, 40)), "PNG", icc_profile=srgb), REQUEST, Settings()
    )
    assert _output_icc(body) == srgb


def test_a_megabyte_profile_is_dropped_from_every_size() -> None:
    """The finding: a ~1 kB PNG carrying a 1 MB (compressible) profile."""
    big = _padded(_srgb(), 1024 * 1024)
    assert not keep(big)
    source = image_bytes(Image.new("RGB", (64, 64), (200, 40, 40)), "PNG", icc_profile=big)
    assert len(source) < 8 * 1024
    for w in (16, 40):
        request = ThumbRequest(id="x", width=w, height=w, crop=CropMode.NONE)
        for fmt in ("PNG", "JPEG", "WEBP"):
            body, _ = render_bytes(source, request, Settings(), fmt=fmt)
            assert _output_icc(body) is None, fmt
            assert len(body) < 4 * 1024, (fmt, len(body))
    # The profile was applied (sRGB to sRGB: the colour is unchanged).
    body, _ = render_bytes(source, REQUEST, Settings(), fmt="PNG")
    r, g, b = Image.open(io.BytesIO(body)).convert("RGB").getpixel((5, 5))
    assert abs(r - 200) < 6 and abs(g - 40) < 6 and abs(b - 40) < 6


def test_odd_profiles_are_not_copied() -> None:
    srgb = bytearray(_srgb())
    printer = bytes(srgb[:12] + b"prtr" + srgb[16:])
    assert not keep(printer)
    assert not keep(b"\0" * 200)
    assert not keep(_padded(bytes(srgb), MAX_KEPT_ICC_BYTES + 1))
    body, _ = render_bytes(image_bytes(Image.new("RGB", (80, 60)), "PNG", icc_profile=printer), REQUEST, Settings())
    assert _output_icc(body) is None

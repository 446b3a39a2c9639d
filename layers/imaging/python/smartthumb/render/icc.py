"""Which source ICC profiles travel into a thumbnail, and converting the rest to sRGB.

A profile is copied verbatim only when it is small and standard: at most
:data:`MAX_KEPT_ICC_BYTES`, a display or colour-space profile (device class
``mntr``/``spac``) of RGB or grey data. sRGB, Display P3 and Adobe RGB are
0.5-3 kB. Anything else -- a 1 MB profile made a 1,123-byte PNG into a 1 MB
thumbnail at every size -- is applied to the pixels (converted to sRGB, on
the small image) and dropped, so the output is sRGB without a profile. A
profile littleCMS cannot read is dropped without conversion.
"""

from __future__ import annotations

import io

from PIL import Image

#: Largest profile copied into an output. The v2 sRGB IEC61966-2.1 profile is 3,144 bytes.
MAX_KEPT_ICC_BYTES = 8 * 1024
_CLASSES = (b"mntr", b"spac")
_SPACES = (b"RGB ", b"GRAY")


def keep(icc: bytes | None) -> bool:
    """True for a small standard display profile that may be copied as it is."""
    return bool(
        icc
        and 128 <= len(icc) <= MAX_KEPT_ICC_BYTES
        and icc[12:16] in _CLASSES
        and icc[16:20] in _SPACES
        and icc[36:40] == b"acsp"
    )


def to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """``im`` (RGB/RGBA) with an RGB profile that is not kept, converted to sRGB; others unchanged."""
    if not icc or keep(icc) or im.mode not in ("RGB", "RGBA") or icc[16:20] != b"RGB ":
        return im
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode=im.mode) or im
    except Exception:  # an unreadable profile: the pixels as they are, the profile dropped
        return im

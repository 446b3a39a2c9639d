"""The Pillow plugins for HEIC/HEIF (pi-heif) and AVIF (Pillow's bundled libavif), loaded on first use.

Each costs ~40 ms of import (their native libraries), so neither is loaded
on the cold path of a JPEG/PNG/WebP thumbnail: the first HEIF or AVIF source
(or AVIF output) pays once per container.

pi-heif is pillow-heif's decoder-only build (libheif + libde265, LGPL-3.0;
no x265 encoder). It is registered without thumbnails, depth or auxiliary
images (none of which a thumbnail needs), with libheif's own security limits
kept on, and with one decode thread (Lambda gives a fraction of a vCPU below
1769 MB, where threads only add memory).
"""

from __future__ import annotations

import io
import threading

from PIL import Image

from smartthumb import heif_header

_lock = threading.Lock()
_loaded: set[str] = set()


def ensure_plugin(kind: str) -> None:
    """Register the Pillow plugin of ``kind`` (``"HEIF"`` or ``"AVIF"``) once."""
    if kind in _loaded:
        return
    with _lock:
        if kind in _loaded:
            return
        if kind == heif_header.HEIF:
            import pi_heif

            pi_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False, decode_threads=1)
        elif kind == heif_header.AVIF:
            from PIL import AvifImagePlugin  # noqa: F401  (registers AVIF open and save)
        else:
            raise ValueError(f"no plugin for {kind!r}")
        _loaded.add(kind)


def open_heif(data: bytes, kind: str, max_pixels: int) -> Image.Image:
    """Check the boxes (:func:`smartthumb.heif_header.scan`), then open ``data`` with its one plugin.

    Raises :class:`~smartthumb.errors.UnsupportedImage` / :class:`~smartthumb.errors.SourceTooLarge`
    from the header check; Pillow's own errors propagate for the caller to map.
    """
    heif_header.scan(data, max_pixels)
    ensure_plugin(kind)
    return Image.open(io.BytesIO(data), formats=[kind])

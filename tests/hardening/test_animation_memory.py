"""A tiny animation asked at the largest padded size: every output frame is held until it is encoded.

Found by a hostile-input probe: a 16x16, 20-frame GIF (about 1 KB) at
``w=4096&h=4096`` is never upscaled, so each frame is padded to a 16.8 Mpx
canvas and the 20 are held for the encoder (1.3 GB at RGBA): a 500
(``MemoryError``) in the capped child at 1,024 MB before the guard
(``animation.keep_animated``'s ``output``), the first frame, padded, after.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.hardening.test_capped_memory import run_capped

pytestmark = pytest.mark.slow


def tiny_animation(fmt: str, frames: int = 20) -> bytes:
    images = [Image.new("RGB", (16, 16), (12 * i, 255 - 12 * i, 90)) for i in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, fmt, save_all=True, append_images=images[1:], duration=50, loop=0)
    return buf.getvalue()


def test_a_tiny_animation_padded_to_the_largest_canvas_fits_the_function(tmp_path: Path) -> None:
    paths = []
    for fmt in ("GIF", "WEBP"):
        path = tmp_path / f"tiny.{fmt.lower()}"
        path.write_bytes(tiny_animation(fmt))
        paths.append(path)
    rows = run_capped("padded", 1024, paths)
    assert [r["name"] for r in rows] == [p.name for p in paths]
    for row in rows:
        assert row["outcome"] == "200", row
        assert row["peak_mb"] <= 1024, row

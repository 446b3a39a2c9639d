"""Peak memory of HEIC and AVIF sources, measured in a fresh process each (as tests/hardening/test_memory.py does).

A decoded HEIC/AVIF may cost about one RGBA frame of its pixels twice over
plus slack, like every other format; one whose boxes claim more pixels than
MAX_SOURCE_PIXELS is refused from the box walk and costs almost nothing.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from PIL import Image

from tests.formats.sources import avif_bytes, heic_bytes
from tests.hardening.test_memory import BYTES_PER_PIXEL, REFUSED_BOUND_MB, measure

pytestmark = pytest.mark.slow

SIZE = (4000, 3000)  # 12 Mpx, under the hardening corpus's MAX_SOURCE_PIXELS


def photo() -> Image.Image:
    return Image.radial_gradient("L").resize(SIZE).convert("RGB")


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_decoded_heif_stays_within_the_per_pixel_bound(tmp_path: Path, kind: str) -> None:
    data = (heic_bytes if kind == "heic" else avif_bytes)(photo(), quality=60)
    path = tmp_path / f"big.{kind}"
    path.write_bytes(data)
    result = measure(path)
    print(kind, result)
    assert str(result["outcome"]).startswith("200"), result
    bound = SIZE[0] * SIZE[1] * BYTES_PER_PIXEL / 2**20 + 32
    assert float(result["delta_mb"]) <= bound, result


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_forged_extent_is_refused_before_decoding(tmp_path: Path, kind: str) -> None:
    data = bytearray((heic_bytes if kind == "heic" else avif_bytes)(Image.new("RGB", (64, 64), "red")))
    pos = data.find(b"ispe") - 4
    struct.pack_into(">II", data, pos + 12, 50_000, 50_000)  # 2.5 Gpx claimed
    path = tmp_path / f"forged.{kind}"
    path.write_bytes(bytes(data))
    result = measure(path)
    assert result["outcome"] == "413 SourceTooLarge", result
    assert float(result["delta_mb"]) <= REFUSED_BOUND_MB, result

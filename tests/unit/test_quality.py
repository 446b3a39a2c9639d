"""Quality mapping: qlt on JPEG's scale -> the calibrated WebP/AVIF quality."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from smartthumb.quality import AVIF_SPEED, QUALITY_MAP, avif_encode_ms, avif_fits, output_quality
from tests.conftest import SAMPLES


def test_table_points_and_interpolation() -> None:
    assert output_quality("JPEG", 85) == 85
    assert output_quality("PNG", 40) == 40
    assert output_quality("WEBP", 85) == 85 and output_quality("AVIF", 85) == 70
    assert output_quality("AVIF", 87) == 75  # 70 + (82 - 70) * 2/5 = 74.8
    assert output_quality("AVIF", 100) == 99
    assert output_quality("AVIF", 1) >= 1


def test_mapping_is_monotone_and_in_range() -> None:
    for fmt in ("WEBP", "AVIF"):
        values = [output_quality(fmt, q) for q in range(1, 101)]
        assert values == sorted(values)
        assert all(1 <= v <= 100 for v in values)
    assert [row[0] for row in QUALITY_MAP] == sorted(row[0] for row in QUALITY_MAP)


@pytest.mark.parametrize("qlt", [40, 85])
def test_mapped_avif_is_no_worse_than_jpeg_and_smaller(qlt: int) -> None:
    """The point of the map on a photo it was not fitted on alone: near-equal error, fewer bytes."""
    im = Image.open(SAMPLES / "chelsea.jpg").convert("RGB")
    im.thumbnail((400, 400))

    def encode(fmt: str, q: int, **kw: object) -> tuple[int, Image.Image]:
        buf = io.BytesIO()
        im.save(buf, fmt, quality=q, **kw)
        return buf.tell(), Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    def mse(out: Image.Image) -> float:
        a, b = im.tobytes(), out.tobytes()
        return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) / len(a)

    jpeg_bytes, jpeg = encode("JPEG", qlt)
    avif_bytes, avif = encode("AVIF", output_quality("AVIF", qlt), speed=AVIF_SPEED)
    assert avif_bytes < jpeg_bytes
    assert mse(avif) < mse(jpeg) * 1.6


def test_avif_budget_from_the_deadline() -> None:
    small, large = 200 * 200, 4096 * 4096
    assert avif_fits(small, None) and avif_fits(large, None)
    assert avif_fits(small, 2_000)
    assert not avif_fits(large, 2_000)  # ~6.7 s of AVIF: WebP instead
    assert avif_fits(large, avif_encode_ms(large) + 500)
    assert not avif_fits(large, avif_encode_ms(large) + 499)
    assert avif_encode_ms(2 * small) > avif_encode_ms(small)

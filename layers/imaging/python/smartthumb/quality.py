"""What each encoder is asked for (quality, effort) and what AVIF costs. Pure.

``qlt`` means the same visual quality in every output format.

``qlt`` (and ``DEFAULT_QUALITY``) is on JPEG's scale. WebP and AVIF reach the
same quality at other numbers: :data:`QUALITY_MAP` holds, for JPEG qualities,
the WebP and AVIF qualities of the same mean SSIM on the sample photos at
thumbnail size, measured by ``tests/bench/calibrate_quality.py``; qualities in
between are interpolated linearly. PNG and GIF are lossless here: no quality.
"""

from __future__ import annotations

from itertools import pairwise

#: WebP ``method`` (0 fast .. 6 small) and AVIF ``speed`` (0 slow .. 10 fast)
#: the service encodes with; the calibration uses the same.
WEBP_METHOD = 4
AVIF_SPEED = 8

#: JPEG quality -> (WebP quality, AVIF quality) of equal mean SSIM.
QUALITY_MAP: tuple[tuple[int, int, int], ...] = (
    (10, 10, 15),
    (15, 10, 24),
    (20, 17, 31),
    (25, 23, 36),
    (30, 28, 39),
    (35, 32, 42),
    (40, 35, 43),
    (45, 41, 46),
    (50, 45, 47),
    (55, 49, 49),
    (60, 54, 50),
    (65, 61, 53),
    (70, 65, 54),
    (75, 75, 58),
    (80, 78, 63),
    (85, 85, 70),
    (90, 91, 82),
    (95, 98, 91),
    (100, 100, 99),
)


def output_quality(fmt: str, qlt: int) -> int:
    """The encoder quality for ``fmt`` that matches JPEG quality ``qlt`` (1..100)."""
    qlt = max(1, min(100, int(qlt)))
    if fmt not in ("WEBP", "AVIF"):
        return qlt
    column = 1 if fmt == "WEBP" else 2
    points = [(row[0], row[column]) for row in QUALITY_MAP]
    if qlt <= points[0][0]:
        return max(1, round(points[0][1] * qlt / points[0][0]))
    for (x0, y0), (x1, y1) in pairwise(points):
        if qlt <= x1:
            return round(y0 + (y1 - y0) * (qlt - x0) / (x1 - x0))
    return points[-1][1]


#: AVIF encode cost at ``AVIF_SPEED``, one thread. Measured on the build
#: machine at 86-183 ms per megapixel (0.03-3.8 MP outputs of the rocket
#: sample; WebP method 4: 90-170 ms/MP, JPEG: 2-4 ms/MP); taken x2.5 for
#: photos that compress harder and a Lambda's share of a vCPU (1769 MB = one
#: vCPU; the default 1024 MB gets ~0.6).
AVIF_MS_PER_MEGAPIXEL = 400
AVIF_FIXED_MS = 20
#: Kept back after an AVIF encode: the response, and a WebP encode if AVIF fails late.
AVIF_RESERVE_MS = 500


def avif_encode_ms(pixels: int) -> int:
    """Estimated AVIF encode time of an output of ``pixels`` pixels."""
    return AVIF_FIXED_MS + (pixels * AVIF_MS_PER_MEGAPIXEL) // 1_000_000


def avif_fits(pixels: int, remaining_ms: int | None) -> bool:
    """True when an AVIF encode of ``pixels`` fits the time left (always, without a deadline)."""
    if remaining_ms is None:
        return True
    return avif_encode_ms(pixels) + AVIF_RESERVE_MS <= remaining_ms

"""Placeholders: the BlurHash decodes back to the source's colours; the dominant colour is the mode, not the mean."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from smartthumb.placeholders import (
    BlurHashError,
    blurhash_decode,
    blurhash_encode,
    dominant_color,
    placeholder,
)


def rgb_of(im: Image.Image) -> tuple[int, int, bytes]:
    im = im.convert("RGB")
    return im.width, im.height, im.tobytes()


def mean(rgb: bytes, width: int, box: tuple[int, int, int, int]) -> tuple[float, float, float]:
    x0, y0, x1, y1 = box
    px = [rgb[3 * (y * width + x) : 3 * (y * width + x) + 3] for y in range(y0, y1) for x in range(x0, x1)]
    return tuple(sum(p[c] for p in px) / len(px) for c in range(3))  # type: ignore[return-value]


def close(a: tuple[float, ...], b: tuple[float, ...], tol: float) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_reference_vector() -> None:
    """Equal to woltapp's algorithm as the PyPI package ``blurhash==1.1.5`` computes it
    (``blurhash.encode(rows, 4, 3)`` on the same 20x15 gradient)."""
    w, h = 20, 15
    rgb = bytes(v for y in range(h) for x in range(w) for v in (min(255, x * 12), min(255, y * 16), (x * y * 7) % 256))
    assert blurhash_encode(w, h, rgb, (4, 3)) == "LnF$R|2,wtbpqMWAjse.f{fhfSfm"
    assert blurhash_encode(w, h, rgb, (3, 4)) == "TnF$R|2,wtqMWAjsf{fhfSs+Wpjv"


def test_blurhash_decodes_to_the_source_colours() -> None:
    # Left half red, right half blue, as the analysis image of a photo would be: 64x48.
    im = Image.new("RGB", (64, 48), (220, 30, 30))
    ImageDraw.Draw(im).rectangle((32, 0, 63, 47), fill=(20, 40, 210))
    w, h, rgb = rgb_of(im)
    ph = placeholder(w, h, rgb)
    assert len(ph.blurhash) == 4 + 2 * 4 * 3
    out = blurhash_decode(ph.blurhash, 32, 24)
    # Away from the blurred edge the decoded halves keep their colours.
    assert close(mean(out, 32, (0, 0, 8, 24)), (220, 30, 30), 45)
    assert close(mean(out, 32, (24, 0, 32, 24)), (20, 40, 210), 45)
    assert ph.color in ("#dc1e1e", "#1428d2")  # a tie between two equal halves: either, exactly


def test_portrait_gets_more_vertical_components() -> None:
    im = Image.new("RGB", (30, 60), (0, 128, 0))
    ImageDraw.Draw(im).rectangle((0, 30, 29, 59), fill=(250, 250, 250))
    w, h, rgb = rgb_of(im)
    ph = placeholder(w, h, rgb)
    assert ph.blurhash[0] == "T"  # size flag (3 - 1) + (4 - 1) * 9 = 29 -> "T"
    out = blurhash_decode(ph.blurhash, 10, 20)
    r, g, b = mean(out, 10, (0, 0, 10, 4))  # green on top (blurred toward the white below)
    assert g > r + 15 and g > b + 15
    assert min(mean(out, 10, (0, 16, 10, 20))) > 200  # white at the bottom


def test_dominant_colour_is_the_largest_area_not_the_mean() -> None:
    im = Image.new("RGB", (40, 40), (30, 60, 200))
    ImageDraw.Draw(im).ellipse((5, 5, 20, 20), fill=(240, 10, 10))
    w, h, rgb = rgb_of(im)
    assert dominant_color(w, h, rgb) == "#1e3cc8"


def test_flat_image_has_no_ac_components() -> None:
    rgb = bytes([90, 90, 90] * 16)
    bh = blurhash_encode(4, 4, rgb, (1, 1))
    assert len(bh) == 6
    assert blurhash_decode(bh, 2, 2) == bytes([90, 90, 90] * 4)


@pytest.mark.parametrize("bad", ["", "LnF$R", "LnF$R|2,wtbpqMWAjse.f{fhfSf", 'Ln"$R|2,wtbpqMWAjse.f{fhfSfm'])
def test_bad_blurhash_is_refused(bad: str) -> None:
    with pytest.raises(BlurHashError):
        blurhash_decode(bad, 4, 4)


def test_pixel_count_must_match() -> None:
    with pytest.raises(ValueError, match="RGB pixels"):
        blurhash_encode(4, 4, bytes(10))


def test_analysis_image_placeholder_round_trips_through_the_analysis_json() -> None:
    import io

    from smartthumb.analysis.analyzer import Analysis, decode_for_analysis, placeholder_of
    from smartthumb.config import Settings

    im = Image.new("RGB", (900, 600), (240, 200, 20))
    ImageDraw.Draw(im).rectangle((0, 300, 899, 599), fill=(30, 30, 120))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    decoded = decode_for_analysis(buf.getvalue(), Settings())
    ph = placeholder_of(decoded.rgb)
    out = blurhash_decode(ph["blurhash"], 16, 16)
    assert close(mean(out, 16, (0, 0, 16, 3)), (240, 200, 20), 50)
    assert close(mean(out, 16, (0, 13, 16, 16)), (30, 30, 120), 50)
    colour = tuple(int(ph["color"][i : i + 2], 16) for i in (1, 3, 5))
    assert close(colour, (240, 200, 20), 12) or close(colour, (30, 30, 120), 12)  # two equal halves

    a = Analysis(width=900, height=600, faces=(), roi=None, crops=(), placeholder=ph)
    assert Analysis.from_dict(a.to_dict()) == a
    assert Analysis.from_dict({**a.to_dict(), "placeholder": "junk"}).placeholder is None

"""Content negotiation through /th: Accept x ENABLE_AVIF/ENABLE_WEBP x alpha/opaque -> Content-Type, image, Vary."""

from __future__ import annotations

import io
from itertools import product

import pytest
from PIL import Image

from smartthumb.negotiation import FormatSwitches, choose_format
from tests.formats.conftest import Th, image_of

ACCEPTS = [
    None,
    "*/*",
    "image/*,*/*;q=0.8",
    "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "image/webp,*/*",
    "image/avif",
    "image/avif;q=0,image/webp",
    "image/webp;q=0,image/avif;q=0.5",
    "image/webp;q=0,image/avif;q=0",
    "image/avif;q=abc,image/webp;q=0.1",
]
SWITCHES = [(a, w) for a, w in product((True, False), repeat=2)]
EXPECTED_TYPE = {"AVIF": "image/avif", "WEBP": "image/webp", "PNG": "image/png", "JPEG": "image/jpeg"}


def sources() -> dict[str, bytes]:
    opaque = Image.new("RGB", (120, 80), (30, 120, 200))
    alpha = Image.new("RGBA", (120, 80), (200, 40, 40, 255))
    alpha.paste((0, 0, 0, 0), (0, 0, 60, 80))  # left half transparent
    out = {}
    for name, im, fmt in (("opaque.jpg", opaque, "JPEG"), ("alpha.png", alpha, "PNG")):
        buf = io.BytesIO()
        im.save(buf, fmt)
        out[name] = buf.getvalue()
    return out


@pytest.mark.parametrize(("avif", "webp"), SWITCHES, ids=lambda v: str(v).lower())
def test_negotiation_table_through_th(make_th, avif: bool, webp: bool) -> None:
    th: Th = make_th(ENABLE_AVIF=str(avif).lower(), ENABLE_WEBP=str(webp).lower())
    for name, data in sources().items():
        th.put(name, data)
    switches = FormatSwitches(avif=avif, webp=webp)
    for accept, name in product(ACCEPTS, ("opaque.jpg", "alpha.png")):
        alpha = name == "alpha.png"
        expected = choose_format(accept, switches, alpha=alpha)
        result = th.get(f"/th?id={name}&w=60&h=40&c=4", accept=accept)
        where = f"Accept={accept!r} {name}"
        assert result["headers"]["Content-Type"] == EXPECTED_TYPE[expected], where
        img = image_of(result)
        assert img.format == expected and img.size == (60, 40), where
        if alpha and expected != "JPEG":
            assert img.convert("RGBA").getpixel((5, 20))[3] == 0, where  # transparency kept
            assert img.convert("RGBA").getpixel((55, 20))[3] == 255, where
        if avif or webp:
            assert result["headers"].get("Vary") == "Accept", where
        else:
            assert "Vary" not in result["headers"], where


def test_every_modern_answer_is_smaller_than_the_fallback(make_th) -> None:
    """AVIF at the mapped quality is smaller than JPEG at the same qlt on a photo-like source."""
    from tests.conftest import SAMPLES

    th: Th = make_th()
    th.put("photo.jpg", (SAMPLES / "chelsea.jpg").read_bytes())
    sizes = {}
    for accept in ("image/avif", "image/webp", "*/*"):
        result = th.get("/th?id=photo.jpg&w=300&h=200&c=4&qlt=80", accept=accept)
        sizes[image_of(result).format] = len(result["body"])
    assert sizes["AVIF"] < sizes["JPEG"] and sizes["WEBP"] < sizes["JPEG"]


def test_avif_that_would_not_fit_the_deadline_falls_back_to_webp_and_says_so(make_th) -> None:
    """The encode budget: 2400x1600 of AVIF is estimated at ~1.6 s; with 2 s left it is WebP instead."""
    from smartthumb.limits import render_reserve_ms
    from smartthumb.quality import AVIF_RESERVE_MS, avif_encode_ms

    th: Th = make_th()
    th.put("big.jpg", image_bytes_rgb((2400, 1600)))
    accept = "image/avif,image/webp,*/*"
    # Over: the AVIF estimate and its reserve do not fit what is left after the decode's reserve.
    assert avif_encode_ms(2400 * 1600) + AVIF_RESERVE_MS > 2_000 - render_reserve_ms(2400 * 1600)
    th.context.remaining_ms = 2_000
    result = th.get("/th?id=big.jpg&w=2400&p=0", accept=accept)
    assert image_of(result).format == "WEBP"
    assert result["headers"]["X-Smartthumb-Format-Fallback"] == "AVIF over the time budget; WEBP instead"
    assert result["headers"]["Cache-Control"] == "public, max-age=300"  # a fallback is cached briefly
    th.context.remaining_ms = 30_000
    result = th.get("/th?id=big.jpg&w=2400&p=0", accept=accept)
    assert image_of(result).format == "AVIF" and "X-Smartthumb-Format-Fallback" not in result["headers"]
    # A small AVIF fits the same short deadline.
    th.context.remaining_ms = 2_000
    assert image_of(th.get("/th?id=big.jpg&w=200", accept=accept)).format == "AVIF"
    # Without WebP accepted the fallback is the source's format.
    result = th.get("/th?id=big.jpg&w=2400&p=0", accept="image/avif")
    assert image_of(result).format == "JPEG" and "X-Smartthumb-Format-Fallback" in result["headers"]


def image_bytes_rgb(size: tuple[int, int]) -> bytes:
    im = Image.radial_gradient("L").resize(size).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=80)
    return buf.getvalue()

"""Placeholders delivered: in the sidecar, in GET /analysis as {"blurhash", "color"}, and on the preview page."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import replace

import pytest
from PIL import Image

from smartthumb.app_factory import build_analysis_cache, build_thumbnail_app
from smartthumb.config import Settings
from smartthumb.local_server import LocalContext, http_api_event
from smartthumb.placeholders import blurhash_decode
from smartthumb.preview import register_preview
from tests.conftest import image_bytes
from tests.formats.sources import heic_bytes
from tests.handlers.smartcrop_fakes import FakeAnalyzer


class PlaceholderAnalyzer(FakeAnalyzer):
    """The fake analysis (no models) plus the real placeholder step on the real analysis image."""

    def __call__(self, data, ratios, settings):
        from smartthumb.analysis.analyzer import decode_for_analysis, placeholder_of

        analysis = super().__call__(data, ratios, settings)
        return replace(analysis, placeholder=placeholder_of(decode_for_analysis(data, settings).rgb))


def two_tone() -> Image.Image:
    im = Image.new("RGB", (300, 200), (250, 120, 0))  # orange top
    im.paste((20, 60, 160), (0, 100, 300, 200))  # blue bottom
    return im


@pytest.fixture
def app(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / "two.jpg").write_bytes(image_bytes(two_tone(), quality=95))
    (store / "two.heic").write_bytes(heic_bytes(two_tone()))
    settings = Settings.from_env({"LOCAL_STORE": str(store), "LOCAL_ANALYSIS_STORE": str(tmp_path / "sc")})
    from smartthumb.sources import source_from_settings

    source = source_from_settings(settings)
    cache = build_analysis_cache(settings, analyze=PlaceholderAnalyzer())
    app = build_thumbnail_app(settings, source=source, cache=cache)
    register_preview(app, settings, source=source, cache=cache)
    return app


def near(a, b, tol: float) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def mean_rows(rgb: bytes, w: int, rows: range) -> tuple[float, ...]:
    px = [rgb[3 * (y * w + x) : 3 * (y * w + x) + 3] for y in rows for x in range(w)]
    return tuple(sum(p[c] for p in px) / len(px) for c in range(3))


@pytest.mark.parametrize("image_id", ["two.jpg", "two.heic"])
def test_get_analysis_returns_a_placeholder_of_the_source_colours(app, image_id: str) -> None:
    result = app.resolve(http_api_event("GET", f"/analysis?id={image_id}", {}), LocalContext())
    assert result["statusCode"] == 200, result["body"]
    body = json.loads(result["body"])
    placeholder = body["placeholder"]
    assert set(placeholder) == {"blurhash", "color"}
    assert re.fullmatch(r"#[0-9a-f]{6}", placeholder["color"])
    rgb = blurhash_decode(placeholder["blurhash"], 30, 20)
    assert near(mean_rows(rgb, 30, range(0, 4)), (250, 120, 0), 50)  # orange at the top
    r, g, b = mean_rows(rgb, 30, range(16, 20))  # blue at the bottom (blurred toward the orange)
    assert b > 140 and b > r + 50 and b > g + 50
    # The Azure part is untouched.
    assert body["metadata"] == {"width": 300, "height": 200}


def test_preview_paints_the_placeholder_behind_each_thumbnail(app) -> None:
    app.resolve(http_api_event("GET", "/analysis?id=two.jpg", {}), LocalContext())  # the sidecar exists
    page = app.resolve(http_api_event("GET", "/", {}), LocalContext())["body"]
    card = page[page.index("<h2>two.jpg</h2>") :]
    card = card[: card.index("</section>")]
    styles = re.findall(r'<img [^>]*style="([^"]+)"', card)
    assert len(styles) == 7  # the original and the six thumbnails
    colour, data = re.match(
        r"background:(#[0-9a-f]{6}) url\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", styles[0]
    ).groups()
    assert near(tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)), (250, 120, 0), 12) or near(
        tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)), (20, 60, 160), 12
    )  # the dominant colour: one of the two equal halves
    png = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    assert near(png.getpixel((png.width // 2, 1)), (250, 120, 0), 60)
    assert 'class="placeholder"' in card

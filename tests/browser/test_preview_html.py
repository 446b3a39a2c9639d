"""The preview page's HTML through the same resolver as ``smartthumb serve`` (no browser)."""

from __future__ import annotations

import json
import re
import shutil
import sys

import pytest

from smartthumb.app_factory import build_analysis_cache, build_thumbnail_app
from smartthumb.config import Settings
from smartthumb.local_server import LocalContext, http_api_event
from smartthumb.preview import register_preview
from smartthumb.sources import source_from_settings
from tests.conftest import SAMPLES
from tests.handlers.smartcrop_fakes import FakeAnalyzer


def make_app(tmp_path, monkeypatch, signed: bool):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(SAMPLES / "chelsea.jpg", store / 'a "quoted" <name>.jpg')
    (store / "broken.jpg").write_bytes(b"text")
    env = {
        "LOCAL_STORE": str(store),
        "LOCAL_ANALYSIS_STORE": str(tmp_path / "sc"),
        "SMARTCROP_ASPECT_RATIOS": "1.0,1.5",
    }
    if signed:
        env["SIGNING_SECRET"] = "preview-test-secret"  # every /th link on the page must be signed
    settings = Settings.from_env(env)
    source = source_from_settings(settings)
    cache = build_analysis_cache(settings, analyze=FakeAnalyzer())
    app = build_thumbnail_app(settings, source=source, cache=cache)
    register_preview(app, settings, source=source, cache=cache)
    return app


@pytest.fixture(params=[False, True], ids=["unsigned", "signed"])
def app(tmp_path, monkeypatch, request):
    return make_app(tmp_path, monkeypatch, request.param)


def test_preview_html(app):
    result = app.resolve(http_api_event("GET", "/", {}), LocalContext())
    assert result["statusCode"] == 200
    assert result["headers"]["Content-Type"].startswith("text/html")
    page = result["body"]
    assert page.startswith("<!doctype html>")
    # Names are escaped in HTML and URL-encoded in /th links.
    assert "a &quot;quoted&quot; &lt;name&gt;.jpg" in page
    assert "<name>" not in page
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == 7
    assert all(re.match(r"/th\?id=a(\+|%20)%22quoted%22(\+|%20)%3Cname%3E\.jpg&amp;", s) for s in srcs), srcs
    assert page.count('class="crop"') == 2
    assert 'data-expected="451x300"' in page  # the original shown at its own width (< 480)
    assert "UnsupportedImage" in page


def test_preview_thumbnail_urls_answer_with_the_expected_size(app):
    import base64
    from io import BytesIO

    from PIL import Image

    page = app.resolve(http_api_event("GET", "/", {}), LocalContext())["body"]
    for src, expected in re.findall(r'<img src="([^"]+)"[^>]*data-expected="(\d+x\d+)"', page):
        target = src.replace("&amp;", "&")
        result = app.resolve(http_api_event("GET", target, {"accept": "image/webp,*/*"}), LocalContext())
        assert result["statusCode"] == 200, json.dumps(result)[:300]
        im = Image.open(BytesIO(base64.b64decode(result["body"])))
        assert f"{im.width}x{im.height}" == expected, target


def test_concurrent_requests_each_get_their_own_answer(tmp_path, monkeypatch):
    """A browser loads the page's images in parallel: every answer must be its own request's."""
    import threading
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor
    from io import BytesIO

    from PIL import Image

    from smartthumb.local_server import make_server

    app = make_app(tmp_path, monkeypatch, signed=False)
    server = make_server(lambda event, context: app.resolve(event, context), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sizes = [(w, h) for w in (40, 61, 83, 120) for h in (30, 57, 90)] * 6
    name = 'a "quoted" <name>.jpg'.replace(" ", "%20").replace('"', "%22").replace("<", "%3C").replace(">", "%3E")

    def fetch(size):
        w, h = size
        with urllib.request.urlopen(f"{base}/th?id={name}&w={w}&h={h}&c=4", timeout=30) as response:
            return size, Image.open(BytesIO(response.read())).size

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so an unguarded race would show
    try:
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(fetch, sizes))
    finally:
        sys.setswitchinterval(switch)
        server.shutdown()
        server.server_close()
    assert all(asked == got for asked, got in results), [r for r in results if r[0] != r[1]]

"""``smartthumb serve`` and ``smartthumb render``: the public local interfaces."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from smartthumb.app_factory import build_thumbnail_app
from smartthumb.config import Settings
from smartthumb.local_server import http_api_event, make_server
from tests.conftest import SAMPLES, image_bytes


@pytest.fixture
def server(tmp_path):
    (tmp_path / "sub dir").mkdir()
    Image.new("RGB", (474, 316), (200, 30, 30)).save(tmp_path / "sub dir" / "seed.png")
    (tmp_path / "notes.txt").write_text("not an image")
    app = build_thumbnail_app(Settings(local_store=str(tmp_path)))
    srv = make_server(lambda event, ctx: app.resolve(event, ctx), "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def fetch(url: str, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_serves_thumbnails_over_http(server):
    status, headers, body = fetch(f"{server}/th?id=sub%20dir/seed.png&w=500")
    assert status == 200
    assert headers["Content-Type"] == "image/jpeg"
    img = Image.open(io.BytesIO(body))
    assert img.size == (500, 333)
    assert img.convert("RGB").getpixel((2, 150))[1] > 240  # white padding column
    status, _, body = fetch(f"{server}/th?id=sub%20dir/seed.png&w=500", {"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""


def test_errors_over_http(server):
    status, _headers, body = fetch(f"{server}/th?id=missing.png&w=5")
    assert status == 404 and json.loads(body)["error"]["code"] == "NotFound"
    status, _, body = fetch(f"{server}/th?id=notes.txt&w=5")
    assert status == 415
    status, _, body = fetch(f"{server}/th?id=../etc/passwd")
    assert status == 400 and json.loads(body)["error"]["param"] == "id"


def test_event_shape_matches_http_api_v2():
    event = http_api_event("GET", "/th?id=a&w=1&w=2", {"Accept": "image/webp"})
    assert event["version"] == "2.0"
    assert event["rawQueryString"] == "id=a&w=1&w=2"
    assert event["queryStringParameters"] == {"id": "a", "w": "1,2"}
    assert event["headers"] == {"accept": "image/webp"}
    assert event["requestContext"]["http"]["method"] == "GET"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "smartthumb.cli", *args], capture_output=True, cwd=cwd, timeout=120)


def test_render_command_writes_thumbnail(tmp_path):
    out = tmp_path / "out.png"
    proc = run_cli("render", str(SAMPLES / "chelsea.jpg"), "w=200&h=200&c=4", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    img = Image.open(out)
    assert img.format == "PNG" and img.size == (200, 200)


def test_render_command_format_as_the_server_would(tmp_path):
    src = tmp_path / "alpha.png"
    src.write_bytes(image_bytes(Image.new("RGBA", (100, 80), (0, 0, 255, 128)), "PNG"))
    proc = run_cli("render", str(src), "id=ignored&w=50")
    assert proc.returncode == 0, proc.stderr
    img = Image.open(io.BytesIO(proc.stdout))
    assert img.format == "PNG" and img.mode == "RGBA" and img.size == (50, 40)


def test_render_command_gif_output_of_a_still_is_a_named_error(tmp_path):
    """.gif is written for an animation kept animated; for a still it was a traceback."""
    proc = run_cli("render", str(SAMPLES / "chelsea.jpg"), "w=50", "-o", str(tmp_path / "x.gif"))
    assert proc.returncode == 1, proc.stderr
    err = json.loads(proc.stderr)["error"]
    assert err["code"] == "InvalidParameter" and "GIF" in err["message"] and err["param"] == "output"
    assert not (tmp_path / "x.gif").exists()


def test_render_command_errors_like_the_api(tmp_path):
    proc = run_cli("render", str(SAMPLES / "chelsea.jpg"), "w=0", "-o", str(tmp_path / "x.jpg"))
    assert proc.returncode == 1
    err = json.loads(proc.stderr)["error"]
    assert err["code"] == "InvalidParameter" and "'w'" in err["message"]
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    proc = run_cli("render", str(bad), "w=10")
    assert proc.returncode == 1 and json.loads(proc.stderr)["error"]["code"] == "UnsupportedImage"
    proc = run_cli("render", str(tmp_path / "missing.jpg"), "w=10")
    assert proc.returncode == 1 and json.loads(proc.stderr)["error"]["code"] == "NotFound"

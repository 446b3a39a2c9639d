"""The render store on /th: renders served without decoding, no 6 MB wall, never stale, deleted with the source."""

from __future__ import annotations

import copy
import io
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote_plus, unquote

import pytest
from PIL import Image

from smartthumb import render
from smartthumb.render_store import source_prefix
from tests.conftest import EVENTS, REPO, image_bytes, serve_subprocess
from tests.formats.conftest import PREFIX, RENDERS, SOURCE, Th, body_of, image_of
from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_analyzer, with_ingest_analyzer

SIX_MB = 6 * 1024 * 1024


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts render.execute calls (every decode of a still goes through it)."""
    calls: list[int] = []
    real = render.execute

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "execute", counting)
    return calls


def stored_keys(th: Th) -> list[str]:
    return [o["Key"] for o in th.s3.list_objects_v2(Bucket=RENDERS).get("Contents", [])]


def test_second_request_is_served_from_the_store_without_decoding(make_th, decodes: list[int]) -> None:
    th: Th = make_th(render_store=True)
    th.put("a.jpg", image_bytes(Image.new("RGB", (300, 200), (200, 30, 30))))
    first = th.get("/th?id=a.jpg&w=60&h=40&c=4", accept="image/webp")
    assert first["headers"]["X-Smartthumb-Store"] == "stored" and len(decodes) == 1
    second = th.get("/th?id=a.jpg&w=60&h=40&c=4", accept="image/webp")
    assert second["headers"]["X-Smartthumb-Store"] == "hit"
    assert len(decodes) == 1  # no second decode
    assert body_of(second) == body_of(first)
    assert second["headers"]["ETag"] == first["headers"]["ETag"]
    assert second["headers"]["Content-Type"] == "image/webp"
    # Another format is another render.
    third = th.get("/th?id=a.jpg&w=60&h=40&c=4", accept="*/*")
    assert third["headers"]["X-Smartthumb-Store"] == "stored" and image_of(third).format == "JPEG"
    assert len(decodes) == 2 and len(stored_keys(th)) == 2


def test_a_hit_reads_neither_the_source_nor_its_header(make_th, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored render is found with the source's ETag (a HEAD): no download, no header parse."""
    from smartthumb import sources

    gets: list[str] = []
    opens: list[int] = []
    real_get, real_open = sources.S3Source.get, render.open_image
    monkeypatch.setattr(sources.S3Source, "get", lambda self, i: gets.append(i) or real_get(self, i))
    monkeypatch.setattr(render, "open_image", lambda *a, **k: opens.append(1) or real_open(*a, **k))
    th: Th = make_th(render_store=True)
    th.put("a.jpg", image_bytes(Image.new("RGB", (300, 200), (200, 30, 30))))
    first = th.get("/th?id=a.jpg&w=60&h=40&c=4", accept="image/avif,image/webp")
    assert (len(gets), len(opens)) == (1, 1)
    second = th.get("/th?id=a.jpg&w=60&h=40&c=4", accept="image/avif,image/webp,*/*")  # same decision
    assert second["headers"]["X-Smartthumb-Store"] == "hit" and (len(gets), len(opens)) == (1, 1)
    assert second["headers"]["ETag"] == first["headers"]["ETag"]
    assert second["headers"]["Content-Type"] == "image/avif" and second["headers"]["Vary"] == "Accept"
    etag = first["headers"]["ETag"]
    not_modified = th.get("/th?id=a.jpg&w=60&h=40&c=4", accept="image/webp,image/avif", **{"if-none-match": etag})
    assert not_modified["statusCode"] == 304 and (len(gets), len(opens)) == (1, 1)
    # Another Accept decision is another render.
    assert th.get("/th?id=a.jpg&w=60&h=40&c=4", accept="image/webp")["headers"]["X-Smartthumb-Store"] == "stored"
    assert th.get("/th?id=a.jpg&w=404")["statusCode"] == 200
    missing = th.get("/th?id=nope.jpg&w=60")
    assert missing["statusCode"] == 404


def test_c7_is_stored_with_its_region(make_th, s3, decodes: list[int]) -> None:
    s3.create_bucket(Bucket="formats-analysis")
    th: Th = make_th(render_store=True, ANALYSIS_BUCKET="formats-analysis")
    with_analyzer(th.fn, FakeAnalyzer(roi=(0.8, 0.3, 0.13, 0.4)))
    th.put("a.jpg", image_bytes(Image.new("RGB", (300, 200), (200, 30, 30))))
    first = th.get("/th?id=a.jpg&w=60&h=60&c=7")
    second = th.get("/th?id=a.jpg&w=60&h=60&c=7")
    assert first["headers"]["X-Smartthumb-Store"] == "stored" and second["headers"]["X-Smartthumb-Store"] == "hit"
    assert second["headers"]["X-Smartthumb-Region"] == "sidecar" and len(decodes) == 1
    assert body_of(second) == body_of(first)


def test_overwriting_the_source_never_serves_the_old_render(make_th) -> None:
    th: Th = make_th(render_store=True)
    th.put("a.jpg", image_bytes(Image.new("RGB", (300, 200), (200, 30, 30))))
    old = th.get("/th?id=a.jpg&w=60")
    assert image_of(old).convert("RGB").getpixel((30, 20))[0] > 150  # red
    th.put("a.jpg", image_bytes(Image.new("RGB", (300, 200), (30, 30, 200))))  # no event delivered yet
    new = th.get("/th?id=a.jpg&w=60")
    assert new["headers"]["X-Smartthumb-Store"] == "stored"
    assert image_of(new).convert("RGB").getpixel((30, 20))[2] > 150  # blue: the new source
    assert new["headers"]["ETag"] != old["headers"]["ETag"]


def noise_png(size: tuple[int, int]) -> bytes:
    """RGBA noise: PNG cannot compress it, so the thumbnail is about 4 bytes a pixel."""
    rgba = Image.frombytes("RGBA", size, os.urandom(size[0] * size[1] * 4))
    return image_bytes(rgba, "PNG", compress_level=1)


def test_an_output_over_6_mb_is_delivered_whole_from_the_store(make_th) -> None:
    th: Th = make_th(render_store=True, MAX_SOURCE_BYTES=str(64 * 2**20))
    th.put("noise.png", noise_png((1800, 1200)))
    result = th.get("/th?id=noise.png&w=1800&h=1200&p=0", accept="*/*")
    assert result["statusCode"] == 307
    assert len(json.dumps(result)) < 10_000  # the Lambda response itself is tiny
    location = result["headers"]["Location"]
    assert location.startswith("/renders/")
    body = th.s3.get_object(Bucket=RENDERS, Key=unquote(location[1:]))["Body"].read()
    assert len(body) > SIX_MB
    img = Image.open(io.BytesIO(body))
    assert img.format == "PNG" and img.size == (1800, 1200)
    # Asked again: a store hit, redirected again without rendering.
    again = th.get("/th?id=noise.png&w=1800&h=1200&p=0", accept="*/*")
    assert again["statusCode"] == 307 and again["headers"]["X-Smartthumb-Store"] == "hit"
    assert again["headers"]["Location"] == location


def test_without_a_store_a_large_output_is_still_capped(make_th) -> None:
    th: Th = make_th(render_store=False, MAX_SOURCE_BYTES=str(64 * 2**20))
    th.put("noise.png", noise_png((1800, 1200)))
    result = th.get("/th?id=noise.png&w=1800&h=1200&p=0", accept="*/*")
    assert result["statusCode"] == 413
    assert json.loads(body_of(result))["error"]["code"] == "OutputTooLarge"


def test_fallback_answers_are_not_stored(make_th, s3) -> None:
    """A blind-ratio fallback for c=7 is cached briefly and never written to the store."""
    import threading

    release = threading.Event()
    fake = FakeAnalyzer()

    def slow(data, ratios, settings):
        release.wait(5)  # longer than the analysis budget
        return fake(data, ratios, settings)

    s3.create_bucket(Bucket="formats-analysis")
    th: Th = make_th(render_store=True, ANALYSIS_BUCKET="formats-analysis", ANALYSIS_TIME_BUDGET_MS="100")
    with_analyzer(th.fn, slow)
    th.put("a.jpg", image_bytes(Image.new("RGB", (300, 200), (200, 30, 30))))
    result = th.get("/th?id=a.jpg&w=60&h=60&c=7")
    release.set()
    th.fn.cache.wait_idle(10)
    assert result["headers"]["X-Smartthumb-Region"] == "fallback"
    assert "X-Smartthumb-Store" not in result["headers"] and stored_keys(th) == []


def test_local_server_delivers_an_output_over_6_mb_whole(tmp_path: Path) -> None:
    store = tmp_path / "images"
    store.mkdir()
    (store / "noise.png").write_bytes(noise_png((1800, 1200)))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "layers" / "imaging" / "python"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "MAX_SOURCE_BYTES": str(64 * 2**20),
    }
    # urllib follows the 307 to /renders/... on the same server.
    with (
        serve_subprocess(store, env) as base,
        urllib.request.urlopen(f"{base}/th?id=noise.png&w=1800&h=1200&p=0", timeout=120) as response,
    ):
        assert response.status == 200
        assert "/renders/" in response.url
        body = response.read()
        head = urllib.request.Request(response.url, method="HEAD")
        with urllib.request.urlopen(head, timeout=60) as answer:  # the stored render's headers, no body
            assert answer.status == 200 and answer.headers["Content-Type"] == "image/png" and answer.read() == b""
        patch = urllib.request.Request(f"{base}/th?id=noise.png&w=10", method="PATCH")
        with pytest.raises(urllib.error.HTTPError) as refused:  # the app's JSON, not http.server's 501 page
            urllib.request.urlopen(patch, timeout=60)
        assert 400 <= refused.value.code < 500 and refused.value.headers["Content-Type"].startswith("application/json")
    assert len(body) > SIX_MB
    img = Image.open(io.BytesIO(body))
    assert img.format == "PNG" and img.size == (1800, 1200)
    kept = [p for p in (tmp_path / "cache" / "smartthumb" / "renders").rglob("*") if p.is_file()]
    assert [p.parent.name for p in kept] == ["noise.png"]  # kept in the cache folder, under the source


# ------------------------------------------------------------ AnalyzeFunction removes renders


def s3_event(key: str, name: str, etag: str | None = None, size: int | None = None, seq: str = "0B") -> dict:
    event = copy.deepcopy(json.loads((EVENTS / "analyze_s3_put.json").read_text()))
    record = event["Records"][0]
    record["eventName"] = name
    record["s3"]["bucket"]["name"] = SOURCE
    obj: dict = {"key": quote_plus(key, safe="/"), "sequencer": seq}
    if etag:
        obj.update(eTag=etag, size=size)
    record["s3"]["object"] = obj
    return event


@pytest.mark.parametrize("event_name", ["ObjectRemoved:Delete", "ObjectCreated:Put"])
def test_delete_or_overwrite_event_removes_the_sources_renders(
    make_th, function_loader, lambda_context, monkeypatch: pytest.MonkeyPatch, s3, no_model_preload, event_name: str
) -> None:
    th: Th = make_th(render_store=True)
    th.put("a.jpg", image_bytes(Image.new("RGB", (300, 200), (200, 30, 30))))
    th.put("a.jpg.b.jpg", image_bytes(Image.new("RGB", (300, 200), (20, 30, 230))))
    for w in (40, 60):
        th.get(f"/th?id=a.jpg&w={w}")
    th.get("/th?id=a.jpg.b.jpg&w=40")
    assert len(stored_keys(th)) == 3

    s3.create_bucket(Bucket="formats-analysis")
    monkeypatch.setenv("ANALYSIS_BUCKET", "formats-analysis")
    analyze = with_ingest_analyzer(function_loader("analyze"), FakeAnalyzer())
    key = PREFIX + "a.jpg"
    if event_name.startswith("ObjectRemoved"):
        s3.delete_object(Bucket=SOURCE, Key=key)
        event = s3_event(key, event_name)
    else:
        data = image_bytes(Image.new("RGB", (300, 200), (0, 250, 0)))
        etag = th.put("a.jpg", data)
        event = s3_event(key, event_name, etag, len(data))
    analyze.handler(event, lambda_context)
    left = stored_keys(th)
    assert not [k for k in left if k.startswith(source_prefix("renders/", "a.jpg"))]
    assert len(left) == 1  # the other source's render stays


@pytest.mark.parametrize(
    ("env", "accept", "expected"),
    [
        ({}, "image/webp", "kept"),
        ({}, "*/*", "kept"),
        ({"MAX_ANIMATION_FRAMES": "5"}, "image/webp", "first-frame; frames over MAX_ANIMATION_FRAMES"),
    ],
)
def test_a_stored_animation_answers_the_headers_it_was_rendered_with(
    make_th, env: dict[str, str], accept: str, expected: str
) -> None:
    from tests.formats.animations import FRAMES, animation_bytes

    th: Th = make_th(render_store=True, **env)
    th.put("anim.gif", animation_bytes("GIF"))
    first = th.get("/th?id=anim.gif&w=40&h=40&c=4", accept=accept)
    second = th.get("/th?id=anim.gif&w=40&h=40&c=4", accept=accept)
    assert first["headers"]["X-Smartthumb-Store"] == "stored" and second["headers"]["X-Smartthumb-Store"] == "hit"
    for name in ("X-Smartthumb-Animation", "X-Smartthumb-Crop", "Content-Type", "ETag"):
        assert second["headers"][name] == first["headers"][name], name
    assert first["headers"]["X-Smartthumb-Animation"] == expected
    assert body_of(second) == body_of(first)
    assert getattr(image_of(second), "n_frames", 1) == (FRAMES if expected == "kept" else 1)
    (key,) = stored_keys(th)
    assert th.s3.head_object(Bucket=RENDERS, Key=key)["Metadata"]["animation"] == expected


def test_a_stored_still_has_no_animation_header_and_keeps_its_crop(make_th) -> None:
    th: Th = make_th(render_store=True)
    th.put("a.jpg", image_bytes(Image.new("RGB", (300, 200), (200, 30, 30))))
    first = th.get("/th?id=a.jpg&w=60&h=60&c=4")
    second = th.get("/th?id=a.jpg&w=60&h=60&c=4")
    assert second["headers"]["X-Smartthumb-Store"] == "hit"
    assert "X-Smartthumb-Animation" not in second["headers"]
    assert second["headers"]["X-Smartthumb-Crop"] == first["headers"]["X-Smartthumb-Crop"] == "50,0,200,200"

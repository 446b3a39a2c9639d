"""A 304 is decided from the source's version (a HEAD) and the sidecar: no download, no decode, no model.

Every S3 call the function makes is recorded (botocore's ``_make_api_call``), the
analyzer is a counting fake, and ``render.open_image`` is counted, so "zero body
downloads and zero model runs" is asserted, not assumed. The local folder store
goes through the same service with its ``get`` counted.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

from smartthumb import render
from smartthumb.app_factory import build_analysis_cache
from smartthumb.config import Settings
from smartthumb.local_server import http_api_event
from smartthumb.request import parse_query_string, parse_th
from smartthumb.service import ThumbnailService
from smartthumb.sidecars import LocalSidecarStore
from smartthumb.sources import LocalFolderSource
from tests.conftest import FakeLambdaContext, image_bytes
from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_analyzer

SOURCE = "nm-source"
ANALYSIS = "nm-analysis"
PREFIX = "img/"
C4 = "/th?id=a.jpg&w=60&h=40&c=4"
C7 = "/th?id=a.jpg&w=60&h=60&c=7"


@dataclass
class Calls:
    """S3 operations made (operation, bucket, key) and source headers opened."""

    s3: list[tuple[str, str, str]] = field(default_factory=list)
    opens: list[int] = field(default_factory=list)

    def clear(self) -> None:
        self.s3.clear()
        self.opens.clear()

    def source(self, operation: str) -> int:
        return sum(1 for op, bucket, _ in self.s3 if op == operation and bucket == SOURCE)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    from botocore.client import BaseClient

    seen = Calls()
    real_call, real_open = BaseClient._make_api_call, render.open_image

    def spy(self: Any, operation: str, params: dict[str, Any]) -> Any:
        seen.s3.append((operation, str(params.get("Bucket", "")), str(params.get("Key", ""))))
        return real_call(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    monkeypatch.setattr(render, "open_image", lambda *a, **k: seen.opens.append(1) or real_open(*a, **k))
    yield seen


@dataclass
class Fn:
    fn: ModuleType
    fake: FakeAnalyzer

    def call(self, method: str, target: str, body: bytes | None = None, **headers: str) -> dict[str, Any]:
        event = http_api_event(method, target, {"accept": "*/*", **headers})
        if body is not None:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
        return self.fn.handler(event, FakeLambdaContext())


@pytest.fixture
def make_fn(s3: Any, monkeypatch: pytest.MonkeyPatch, function_loader: Any):
    """``make_fn(sidecars=True)``: a fresh ThumbnailFunction (a new container: nothing remembered)."""
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=ANALYSIS)
    monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
    monkeypatch.setenv("SOURCE_PREFIX", PREFIX)
    monkeypatch.setenv("ENABLE_WEBP", "true")

    def make(sidecars: bool = True) -> Fn:
        if sidecars:
            monkeypatch.setenv("ANALYSIS_BUCKET", ANALYSIS)
        else:
            monkeypatch.delenv("ANALYSIS_BUCKET", raising=False)  # an S3 source without sidecars
        fake = FakeAnalyzer(roi=(0.7, 0.2, 0.2, 0.5))
        return Fn(with_analyzer(function_loader("thumbnail"), fake), fake)

    return make


def put_source(s3: Any, colour: tuple[int, int, int] = (200, 30, 30)) -> None:
    s3.put_object(Bucket=SOURCE, Key=PREFIX + "a.jpg", Body=image_bytes(Image.new("RGB", (300, 200), colour)))


def test_c4_304_from_a_head_alone(make_fn, s3, calls: Calls) -> None:
    put_source(s3)
    fn = make_fn()
    first = fn.call("GET", C4)
    assert first["statusCode"] == 200 and calls.source("GetObject") == 1
    etag = first["headers"]["ETag"]
    calls.clear()
    again = fn.call("GET", C4, **{"if-none-match": etag})
    assert again["statusCode"] == 304 and again["headers"]["ETag"] == etag and again["body"] == ""
    assert (calls.source("GetObject"), calls.source("HeadObject"), len(calls.opens)) == (0, 1, 0)
    # HEAD /th answers what GET does, also conditionally.
    head = fn.call("HEAD", C4)
    assert head["statusCode"] == 200 and head["headers"]["ETag"] == etag
    calls.clear()
    assert fn.call("HEAD", C4, **{"if-none-match": etag})["statusCode"] == 304
    assert calls.source("GetObject") == 0
    # A list, weak forms: RFC 9110's weak comparison.
    assert fn.call("GET", C4, **{"if-none-match": f'"x", W/{etag}'})["statusCode"] == 304
    # No match: rendered, with the same ETag.
    calls.clear()
    other = fn.call("GET", C4, **{"if-none-match": '"not-it"'})
    assert other["statusCode"] == 200 and other["headers"]["ETag"] == etag and calls.source("GetObject") == 1
    assert fn.fake.calls == []


def test_each_output_format_has_its_own_etag(make_fn, s3, calls: Calls) -> None:
    put_source(s3)
    fn = make_fn()
    jpeg = fn.call("GET", C4)
    webp = fn.call("GET", C4, accept="image/webp,*/*")
    assert (jpeg["headers"]["Content-Type"], webp["headers"]["Content-Type"]) == ("image/jpeg", "image/webp")
    assert jpeg["headers"]["ETag"] != webp["headers"]["ETag"] and webp["headers"]["Vary"] == "Accept"
    # The JPEG's ETag does not revalidate the WebP answer, nor the other way round.
    assert fn.call("GET", C4, accept="image/webp", **{"if-none-match": jpeg["headers"]["ETag"]})["statusCode"] == 200
    assert fn.call("GET", C4, **{"if-none-match": webp["headers"]["ETag"]})["statusCode"] == 200
    # An Accept that decides the same format is the same answer.
    same = fn.call("GET", C4, accept="image/webp;q=0.5", **{"if-none-match": webp["headers"]["ETag"]})
    assert same["statusCode"] == 304


def test_a_changed_source_changes_the_etag(make_fn, s3, calls: Calls) -> None:
    put_source(s3)
    fn = make_fn()
    etags = {}
    for target in (C4, C7):
        etags[target] = fn.call("GET", target)["headers"]["ETag"]
    put_source(s3, (30, 30, 200))
    for target, etag in etags.items():
        calls.clear()
        changed = fn.call("GET", target, **{"if-none-match": etag})
        assert changed["statusCode"] == 200 and changed["headers"]["ETag"] != etag, target
        assert calls.source("GetObject") == 1


def test_c7_with_a_sidecar_304_without_the_source_or_a_model(make_fn, s3, calls: Calls) -> None:
    put_source(s3)
    make_fn().call("GET", C7)  # computes and writes the sidecar
    assert s3.list_objects_v2(Bucket=ANALYSIS)["KeyCount"] == 1
    fn = make_fn()  # a new container: reads the sidecar
    first = fn.call("GET", C7)
    assert first["statusCode"] == 200 and first["headers"]["X-Smartthumb-Region"] == "sidecar"
    etag = first["headers"]["ETag"]
    calls.clear()
    again = make_fn().call("GET", C7, **{"if-none-match": etag})  # and in yet another container
    assert again["statusCode"] == 304 and again["headers"]["ETag"] == etag
    assert (calls.source("GetObject"), calls.source("HeadObject"), len(calls.opens)) == (0, 1, 0)
    assert fn.fake.calls == []


def test_a_manual_region_changes_the_c7_etag(make_fn, s3, calls: Calls) -> None:
    put_source(s3)
    fn = make_fn()
    etag = fn.call("GET", C7)["headers"]["ETag"]
    assert fn.call("GET", C7, **{"if-none-match": etag})["statusCode"] == 304
    region = json.dumps({"region": {"x": 10, "y": 10, "w": 40, "h": 40}}).encode()
    assert fn.call("PUT", "/analysis?id=a.jpg", region, **{"content-type": "application/json"})["statusCode"] == 200
    for current in (fn, make_fn()):  # this container and a fresh one
        moved = current.call("GET", C7, **{"if-none-match": etag})
        assert moved["statusCode"] == 200 and moved["headers"]["X-Smartthumb-Region"] == "manual"
        assert moved["headers"]["ETag"] != etag
        assert current.call("GET", C7, **{"if-none-match": moved["headers"]["ETag"]})["statusCode"] == 304


def test_c7_without_a_sidecar_304_without_the_source_or_a_model(make_fn, s3, calls: Calls) -> None:
    """No sidecar store: the (deterministic) models decide the region, so the ETag says "none yet"."""
    put_source(s3)
    fn = make_fn(sidecars=False)
    first = fn.call("GET", C7)
    assert first["headers"]["X-Smartthumb-Region"] == "computed" and len(fn.fake.calls) == 1
    etag = first["headers"]["ETag"]
    for current in (fn, make_fn(sidecars=False)):  # remembered here; nothing anywhere in a new container
        calls.clear()
        again = current.call("GET", C7, **{"if-none-match": etag})
        assert again["statusCode"] == 304 and again["headers"]["ETag"] == etag
        assert (calls.source("GetObject"), len(calls.opens)) == (0, 0)
    assert len(fn.fake.calls) == 1
    # Not matching: rendered (the models run in the new container), the same ETag.
    fresh = make_fn(sidecars=False)
    other = fresh.call("GET", C7, **{"if-none-match": '"not-it"'})
    assert other["statusCode"] == 200 and other["headers"]["ETag"] == etag and len(fresh.fake.calls) == 1


def test_a_fallback_etag_is_never_revalidated_before_decoding(make_fn, s3, calls: Calls) -> None:
    """A blind-ratio fallback (analysis refused) is temporary: its ETag differs from a smart crop's."""
    put_source(s3)
    fn = make_fn(sidecars=False)
    real = fn.fn.cache._analyze

    def broken(data: bytes, ratios: Any, settings: Any) -> Any:
        raise RuntimeError("model unavailable")

    fn.fn.cache._analyze = broken
    blind = fn.call("GET", C7)
    assert blind["headers"]["X-Smartthumb-Region"] == "fallback"
    fn.fn.cache._analyze = real
    smart = fn.call("GET", C7, **{"if-none-match": blind["headers"]["ETag"]})
    assert smart["statusCode"] == 200 and smart["headers"]["X-Smartthumb-Region"] == "computed"
    assert smart["headers"]["ETag"] != blind["headers"]["ETag"]


# ------------------------------------------------------------------ the local folder store


def test_local_store_304_without_reading_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(image_bytes(Image.new("RGB", (300, 200), (200, 30, 30))))
    settings = Settings(local_store=str(folder))
    reads: list[str] = []
    real_get = LocalFolderSource.get
    monkeypatch.setattr(LocalFolderSource, "get", lambda self, i: reads.append(i) or real_get(self, i))
    fake = FakeAnalyzer(roi=(0.7, 0.2, 0.2, 0.5))

    def service() -> ThumbnailService:  # a fresh process each time: nothing remembered
        source = LocalFolderSource(folder, settings.max_source_bytes)
        cache = build_analysis_cache(settings, store=LocalSidecarStore(tmp_path / "sidecars"), analyze=fake)
        return ThumbnailService(settings, source, cache)

    def request(query: str):
        return parse_th(parse_query_string(query), settings)

    service().thumbnail(request("id=a.jpg&w=60&h=60&c=7"))  # writes the sidecar
    assert len(fake.calls) == 1
    for query in ("id=a.jpg&w=60&h=40&c=4", "id=a.jpg&w=60&h=60&c=7"):
        first = service().thumbnail(request(query))
        assert first.body and len(fake.calls) == 1
        reads.clear()
        again = service().thumbnail(request(query), if_none_match=first.etag)
        assert (again.body, again.etag, reads, len(fake.calls)) == (None, first.etag, [], 1), query
    (folder / "a.jpg").write_bytes(image_bytes(Image.new("RGB", (300, 200), (30, 30, 200))))
    changed = service().thumbnail(request("id=a.jpg&w=60&h=40&c=4"), if_none_match=first.etag)
    assert changed.body and changed.etag != first.etag

"""ThumbnailFunction with moto buckets for the format tests: a source bucket, optionally a render bucket."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

from smartthumb.local_server import http_api_event
from tests.conftest import FakeLambdaContext

SOURCE = "formats-source"
RENDERS = "formats-renders"
PREFIX = "img/"


@dataclass
class Th:
    """The loaded function, its S3 client and a Lambda context."""

    fn: ModuleType
    s3: Any
    context: FakeLambdaContext

    def put(self, image_id: str, data: bytes) -> str:
        return self.s3.put_object(Bucket=SOURCE, Key=PREFIX + image_id, Body=data)["ETag"].strip('"')

    def get(self, target: str, accept: str | None = "*/*", **headers: str) -> dict[str, Any]:
        sent = dict(headers)
        if accept is not None:
            sent["accept"] = accept
        return self.fn.handler(http_api_event("GET", target, sent), self.context)


def body_of(result: dict[str, Any]) -> bytes:
    raw = result.get("body") or ""
    return base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()


def image_of(result: dict[str, Any]) -> Image.Image:
    assert result["statusCode"] == 200, body_of(result)[:300]
    return Image.open(io.BytesIO(body_of(result)))


@pytest.fixture
def make_th(
    s3: Any, monkeypatch: pytest.MonkeyPatch, function_loader: Callable[[str], ModuleType]
) -> Callable[..., Th]:
    """``make_th(render_store=False, **env)``: the thumbnail function over a moto source bucket."""
    s3.create_bucket(Bucket=SOURCE)

    def make(render_store: bool = False, **env: str) -> Th:
        monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
        monkeypatch.setenv("SOURCE_PREFIX", PREFIX)
        for name in ("SIGNING_SECRET", "SIGNING_SECRET_PARAMETER", "SIGNING_SECRET_ARN", "SIGNING_SECRET_PARAM"):
            monkeypatch.delenv(name, raising=False)
        if render_store:
            if RENDERS not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                s3.create_bucket(Bucket=RENDERS)
            monkeypatch.setenv("RENDER_BUCKET", RENDERS)
        else:
            monkeypatch.delenv("RENDER_BUCKET", raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return Th(function_loader("thumbnail"), s3, FakeLambdaContext())

    return make

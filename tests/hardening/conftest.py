"""Fixtures for the hardening tests: a ThumbnailFunction over a moto bucket."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from PIL import Image

from smartthumb.local_server import http_api_event
from tests.conftest import FakeLambdaContext, image_bytes

BUCKET = "hardening-secret-bucket-name"
PREFIX = "private/source-prefix/"
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
}


@dataclass
class Fn:
    """A loaded ThumbnailFunction and helpers to call it."""

    module: ModuleType
    s3: Any
    context: FakeLambdaContext

    def put(self, image_id: str, data: bytes) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=PREFIX + image_id, Body=data)

    def get(self, target: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        event = http_api_event("GET", target, dict(headers or {"accept": "*/*"}))
        return self.module.handler(event, self.context)

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.module.handler(event, self.context)


def two_buckets(s3: Any, monkeypatch: pytest.MonkeyPatch, source: str, analysis: str, **env: str) -> None:
    """A source and an analysis bucket in moto, named in the environment with ``env`` on top."""
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=analysis)
    settings = {"SOURCE_BUCKET": source, "ANALYSIS_BUCKET": analysis, "ANALYSIS_PREFIX": "analysis/", **env}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


def body_image(result: Mapping[str, Any]) -> Image.Image:
    assert result["isBase64Encoded"] is True
    im = Image.open(io.BytesIO(base64.b64decode(result["body"])))
    im.load()
    return im


def error_of(result: Mapping[str, Any]) -> dict[str, Any]:
    assert result["headers"]["Content-Type"] == "application/json", result
    return json.loads(result["body"])["error"]


@contextmanager
def shared_function(**env: str) -> Iterator[Fn]:
    """A ThumbnailFunction over its own moto S3, for a whole test module.

    Loading the function and starting moto costs about a second; tests that
    need no environment of their own share one (``scope="module"`` fixtures).
    """
    from moto import mock_aws

    from tests.conftest import load_function

    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**AWS_TEST_ENV, "SOURCE_BUCKET": BUCKET, "SOURCE_PREFIX": PREFIX, **env}.items():
            mp.setenv(name, value)
        for name in ("SIGNING_SECRET", "SIGNING_SECRET_PARAMETER", "SIGNING_SECRET_ARN", "SIGNING_SECRET_PARAM"):
            if name not in env:
                mp.delenv(name, raising=False)
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key=PREFIX + "photo.jpg", Body=image_bytes(Image.new("RGB", (474, 316))))
            yield Fn(load_function("thumbnail"), s3, FakeLambdaContext())


@pytest.fixture
def make_fn(s3, monkeypatch, function_loader) -> Callable[..., Fn]:
    """``make_fn(**env)`` loads the function with these extra environment variables."""
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(
        Bucket=BUCKET, Key=PREFIX + "photo.jpg", Body=image_bytes(Image.new("RGB", (474, 316), (40, 90, 160)))
    )

    def make(**env: str) -> Fn:
        monkeypatch.setenv("SOURCE_BUCKET", BUCKET)
        monkeypatch.setenv("SOURCE_PREFIX", PREFIX)
        for name in ("SIGNING_SECRET", "SIGNING_SECRET_PARAMETER", "SIGNING_SECRET_ARN", "SIGNING_SECRET_PARAM"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return Fn(function_loader("thumbnail"), s3, FakeLambdaContext())

    return make

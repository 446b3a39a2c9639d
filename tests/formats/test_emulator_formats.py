"""Formats under the real Lambda Runtime Interface Emulator (template.yaml's settings, moto's S3 server):
an output over Lambda's 6 MB response delivered whole from the render store, a HEIC source, AVIF out."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from PIL import Image

from infra.rie import run
from smartthumb.local_server import http_api_event
from tests.formats.sources import heic_bytes

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
SIX_MB = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return run.function_spec("ThumbnailFunction").environment


@pytest.fixture(scope="module")
def s3(env: dict[str, str]) -> Iterator[Any]:
    server = run.LocalS3().start()
    server.prepare(env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def thumbnail(s3: Any) -> Iterator[Any]:
    with run.LocalLambda("ThumbnailFunction", s3_endpoint=s3.endpoint) as fn:
        yield fn


def put(s3: Any, env: dict[str, str], image_id: str, data: bytes) -> None:
    s3.client().put_object(Bucket=env["SOURCE_BUCKET"], Key=env["SOURCE_PREFIX"] + image_id, Body=data)


def test_output_over_6_mb_is_delivered_whole_through_the_emulated_lambda(
    thumbnail: Any, s3: Any, env: dict[str, str]
) -> None:
    noise = Image.frombytes("RGBA", (1800, 1200), os.urandom(1800 * 1200 * 4))
    buf = io.BytesIO()
    noise.save(buf, "PNG", compress_level=1)
    put(s3, env, "noise.png", buf.getvalue())
    result = thumbnail.invoke(http_api_event("GET", "/th?id=noise.png&w=1800&h=1200&p=0", {"accept": "*/*"}))
    assert not result.is_error, result.payload
    response = result.payload
    assert response["statusCode"] == 307, (str(response)[:300], thumbnail.logs()[-3000:])
    location = response["headers"]["Location"]
    assert location.startswith("/" + env["RENDER_PREFIX"])
    # What CloudFront's /renders/* behaviour serves: the object at that key in the render bucket.
    body = s3.client().get_object(Bucket=env["RENDER_BUCKET"], Key=unquote(location[1:]))["Body"].read()
    assert len(body) > SIX_MB
    assert Image.open(io.BytesIO(body)).size == (1800, 1200)


def test_heic_in_avif_out_through_the_emulated_lambda(thumbnail: Any, s3: Any, env: dict[str, str]) -> None:
    put(s3, env, "phone.heic", heic_bytes(Image.new("RGB", (400, 300), (200, 40, 40))))
    response = thumbnail.invoke(
        http_api_event("GET", "/th?id=phone.heic&w=100&h=100&c=4", {"accept": "image/avif,image/webp,*/*"})
    ).payload
    assert response["statusCode"] == 200, str(response)[:300]
    assert response["headers"]["Content-Type"] == "image/avif"
    img = Image.open(io.BytesIO(base64.b64decode(response["body"])))
    assert img.format == "AVIF" and img.size == (100, 100)

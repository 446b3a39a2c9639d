"""ThumbnailFunction end to end: HTTP API v2 events in, images out, S3 via moto."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from smartthumb.local_server import http_api_event
from tests.conftest import EVENTS, SAMPLES, image_bytes

BUCKET = "smartthumb-source"
PREFIX = "img/"


@pytest.fixture
def thumbnail_fn(s3, monkeypatch, function_loader):
    s3.create_bucket(Bucket=BUCKET)
    for path in SAMPLES.glob("*.jpg"):
        s3.put_object(Bucket=BUCKET, Key=PREFIX + path.name, Body=path.read_bytes())
    seed = Image.new("RGB", (474, 316), (40, 90, 160))
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "seed.jpg", Body=image_bytes(seed, quality=95))
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "not-an-image.jpg", Body=b"hello, I am text\n" * 10)
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "big.jpg", Body=b"\xff\xd8" + b"\0" * 300_000)
    monkeypatch.setenv("SOURCE_BUCKET", BUCKET)
    monkeypatch.setenv("SOURCE_PREFIX", PREFIX)
    monkeypatch.setenv("MAX_SOURCE_BYTES", "200000")
    monkeypatch.setenv("ENABLE_WEBP", "true")
    monkeypatch.setenv("CACHE_CONTROL", "public, max-age=600")
    return function_loader("thumbnail")


def invoke(fn, lambda_context, target: str, headers: dict[str, str] | None = None):
    event = http_api_event("GET", target, headers or {"accept": "*/*"})
    return fn.handler(event, lambda_context)


def decode(result) -> Image.Image:
    assert result["isBase64Encoded"] is True
    return Image.open(io.BytesIO(base64.b64decode(result["body"])))


def error_of(result) -> dict:
    assert result["headers"]["Content-Type"] == "application/json"
    return json.loads(result["body"])["error"]


def test_event_file_fit_gives_webp_when_accepted(thumbnail_fn, lambda_context):
    event = json.loads((EVENTS / "th_fit.json").read_text())
    result = thumbnail_fn.handler(event, lambda_context)
    assert result["statusCode"] == 200
    assert result["headers"]["Content-Type"] == "image/webp"
    assert result["headers"]["Vary"] == "Accept"
    assert result["headers"]["Cache-Control"] == "public, max-age=600"
    img = decode(result)
    assert img.format == "WEBP" and img.size == (200, 200)


@pytest.mark.parametrize(
    ("query", "size"),
    [
        ("w=500", (500, 333)),
        ("w=500&p=0", (474, 316)),
        ("w=200&h=200", (200, 200)),
        ("w=200&h=200&p=0", (200, 134)),
        ("w=200&h=100&c=4", (200, 100)),
        ("w=100&h=200&c=4", (100, 200)),
        ("w=100&h=50&dpr=2", (200, 100)),
    ],
)
def test_seed_sizes_through_the_handler(thumbnail_fn, lambda_context, query, size):
    result = invoke(thumbnail_fn, lambda_context, f"/th?id=seed.jpg&{query}")
    assert result["statusCode"] == 200, result.get("body")
    assert result["headers"]["Content-Type"] == "image/jpeg"
    img = decode(result)
    assert img.format == "JPEG" and img.size == size


def test_real_photo_and_padding_colour(thumbnail_fn, lambda_context):
    result = invoke(thumbnail_fn, lambda_context, "/th?id=chelsea.jpg&w=200&h=200&pcl=ff0000")
    img = decode(result).convert("RGB")
    assert img.size == (200, 200)
    # chelsea is 451x300: 200x134 image, 33 rows of red above and below.
    top = img.getpixel((100, 10))
    bottom = img.getpixel((100, 190))
    middle = img.getpixel((100, 100))
    for px in (top, bottom):
        assert px[0] > 230 and px[1] < 25 and px[2] < 25
    assert not (middle[0] > 230 and middle[1] < 25)


def test_etag_and_304(thumbnail_fn, lambda_context, s3):
    first = invoke(thumbnail_fn, lambda_context, "/th?id=seed.jpg&w=100")
    etag = first["headers"]["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = invoke(thumbnail_fn, lambda_context, "/th?id=seed.jpg&w=100", {"accept": "*/*", "if-none-match": etag})
    assert again["statusCode"] == 304
    assert again["body"] == ""
    assert again["headers"]["ETag"] == etag
    # Parameter order and ignored parameters do not change the ETag ...
    same = invoke(thumbnail_fn, lambda_context, "/th?w=100&pid=Api&id=seed.jpg")
    assert same["headers"]["ETag"] == etag
    # ... but the size, the format and the source version do.
    assert invoke(thumbnail_fn, lambda_context, "/th?id=seed.jpg&w=101")["headers"]["ETag"] != etag
    webp = invoke(thumbnail_fn, lambda_context, "/th?id=seed.jpg&w=100", {"accept": "image/webp"})
    assert webp["headers"]["ETag"] != etag
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "seed.jpg", Body=image_bytes(Image.new("RGB", (474, 316), "red")))
    changed = invoke(thumbnail_fn, lambda_context, "/th?id=seed.jpg&w=100", {"accept": "*/*", "if-none-match": etag})
    assert changed["statusCode"] == 200
    assert changed["headers"]["ETag"] != etag


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("/th?id=no-such.jpg&w=100", 404, "NotFound"),
        ("/th?w=100", 400, "InvalidParameter"),
        ("/th?id=seed.jpg&w=0", 400, "InvalidParameter"),
        ("/th?id=seed.jpg&w=100&c=9&h=5", 400, "InvalidParameter"),
        ("/th?id=../secret&w=100", 400, "InvalidParameter"),
        ("/th?id=seed.jpg&w=1&w=2", 400, "InvalidParameter"),
        ("/th?id=big.jpg&w=100", 413, "SourceTooLarge"),
        ("/th?id=not-an-image.jpg&w=100", 415, "UnsupportedImage"),
        ("/nope", 404, "RouteNotFound"),
    ],
)
def test_errors_are_named_json(thumbnail_fn, lambda_context, target, status, code):
    result = invoke(thumbnail_fn, lambda_context, target)
    assert result["statusCode"] == status
    err = error_of(result)
    assert err["code"] == code
    assert err["message"]
    assert BUCKET not in result["body"] and PREFIX not in result["body"]


def test_bad_parameter_message_names_it(thumbnail_fn, lambda_context):
    err = error_of(invoke(thumbnail_fn, lambda_context, "/th?id=seed.jpg&qlt=500"))
    assert "'qlt'" in err["message"] and "1 to 100" in err["message"]


@pytest.mark.model  # th_smart_crop.json is a c=7 request
def test_event_files_all_answer(thumbnail_fn, lambda_context):
    expected = {"th_not_found": 404, "th_bad_param": 400}
    for path in sorted(EVENTS.glob("th_*.json")):
        result = thumbnail_fn.handler(json.loads(path.read_text()), lambda_context)
        assert result["statusCode"] == expected.get(path.stem, 200), path.name
        if result["statusCode"] == 200:
            assert decode(result).size[0] > 0

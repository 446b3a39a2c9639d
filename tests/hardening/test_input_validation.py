"""Input validation at every door: ids that try to escape, header injection,
repeated and empty parameters, JSON bodies of the wrong shape, and error
messages that leak nothing."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from smartthumb.config import Settings
from smartthumb.errors import SourceNotFound
from smartthumb.local_server import http_api_event
from smartthumb.sources import LocalFolderSource
from tests.conftest import image_bytes
from tests.hardening.conftest import BUCKET, PREFIX, error_of, shared_function

LEAKS = (BUCKET, PREFIX, "Traceback", "/work/", "/tmp/", ".py", "site-packages", "botocore")


def assert_clean_error(result: dict, status: int, param: str | None = None) -> dict:
    assert result["statusCode"] == status, result.get("body", "")[:300]
    err = error_of(result)
    assert err["message"]
    if param is not None:
        assert f"'{param}'" in err["message"], err
    for leak in LEAKS:
        assert leak not in result["body"], leak
    return err


@pytest.fixture(scope="module")
def fn():
    with shared_function() as shared:
        yield shared


# --------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    "raw_id",
    [
        "../secret.jpg",
        "a/../../secret.jpg",
        "a/./b.jpg",
        "%2e%2e/secret.jpg",
        "%2E%2E%2Fsecret.jpg",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "a%5c..%5csecret.jpg",
        "a%00.jpg",
        "a%0d%0aX-Injected:%20yes",
        "a%7f.jpg",
        "a//b.jpg",
        "..",
        "x" * 1100,
        "%C3%A9" * 600,
        "",
    ],
)
def test_ids_that_escape_the_prefix_are_400(fn, raw_id: str) -> None:
    assert_clean_error(fn.get(f"/th?id={raw_id}&w=50"), 400, "id")


def test_a_sibling_of_the_prefix_is_unreachable(fn) -> None:
    """``SOURCE_PREFIX + id`` can only name keys under the prefix."""
    fn.s3.put_object(Bucket=BUCKET, Key="outside.jpg", Body=image_bytes(Image.new("RGB", (10, 10))))
    fn.s3.put_object(Bucket=BUCKET, Key="private/outside.jpg", Body=image_bytes(Image.new("RGB", (10, 10))))
    for raw_id in ("../../outside.jpg", "..%2F..%2Foutside.jpg", "../outside.jpg"):
        assert fn.get(f"/th?id={raw_id}&w=5")["statusCode"] == 400
    assert_clean_error(fn.get("/th?id=outside.jpg&w=5"), 404)  # read as PREFIX + "outside.jpg": absent


def test_local_store_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(image_bytes(Image.new("RGB", (4, 4))))
    os.symlink(secret, root / "link.jpg")
    os.symlink(tmp_path, root / "up")
    store = LocalFolderSource(root, 1_000_000)
    for image_id in ("link.jpg", "up/secret.jpg"):
        with pytest.raises(SourceNotFound):
            store.get(image_id)


# ------------------------------------------------------- header injection


INJECTIONS = ("%0d%0aX-Injected:%20yes", "%0aX-Injected:%20yes", "%E2%80%A8X-Injected", "a%0d%0a%0d%0a<html>")


@pytest.mark.parametrize("param", ["id", "w", "h", "c", "p", "qlt", "dpr", "pcl", "pid", "rs", "cdv", "o", "rm"])
@pytest.mark.parametrize("payload", INJECTIONS)
def test_no_parameter_reaches_a_response_header(fn, param: str, payload: str) -> None:
    query = {"id": "photo.jpg", "w": "50"}
    query[param] = payload
    target = "/th?" + "&".join(f"{k}={v}" for k, v in query.items())
    result = fn.get(target, {"accept": "*/*", "if-none-match": '"x"\r\nX-Injected: yes'})
    assert result["statusCode"] in (200, 400, 404), result["body"][:200]
    headers = {**result.get("headers", {})}
    assert not any(k.lower() == "x-injected" for k in headers)
    for name, value in headers.items():
        for ch in ("\r", "\n", "\u2028", "\u0085"):
            assert ch not in name and ch not in value, (name, value)
    if result["statusCode"] != 200:
        assert result["headers"]["Content-Type"] == "application/json"
        json.loads(result["body"])  # a JSON document, whatever was injected


# ------------------------------------------------- repeated / empty params


@pytest.mark.parametrize("param", ["id", "w", "h", "c", "p", "qlt", "dpr", "pcl"])
def test_repeated_parameters_are_400_naming_them(fn, param: str) -> None:
    values = {"id": "photo.jpg", "w": "50", "h": "50", "c": "4", "p": "0", "qlt": "50", "dpr": "1", "pcl": "ffffff"}
    query = "&".join(f"{k}={v}" for k, v in values.items()) + f"&{param}={values[param]}"
    assert_clean_error(fn.get(f"/th?{query}"), 400, param)


@pytest.mark.parametrize("param", ["id", "w", "h", "c", "p", "qlt", "dpr", "pcl"])
def test_empty_parameters_are_400_naming_them(fn, param: str) -> None:
    values = {"id": "photo.jpg", "w": "50", "h": "50"}
    values[param] = ""
    query = "&".join(f"{k}={v}" for k, v in values.items())
    assert_clean_error(fn.get(f"/th?{query}"), 400, param)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "&&&",
        "=",
        "id",
        "id=photo.jpg&=5",
        "id=photo.jpg&w",
        "id=photo.jpg&w=%ff",
        "id=%ff%fe&w=5",
        "id=photo.jpg&w=" + "9" * 5000,
        "id=photo.jpg&" + "&".join(f"x{i}=1" for i in range(2000)),
        "id=photo.jpg&w=50;h=50",
        "id=photo.jpg&W=50",
    ],
)
def test_malformed_query_strings_are_4xx(fn, query: str) -> None:
    result = fn.get(f"/th?{query}")
    assert result["statusCode"] in (400, 404), (query[:60], result["body"][:200])
    assert_clean_error(result, result["statusCode"])


def test_other_methods_and_paths_are_clean_4xx(fn) -> None:
    for method, target in (("POST", "/th?id=photo.jpg&w=5"), ("GET", "/th/../etc/passwd"), ("GET", "/TH?id=x")):
        result = fn.call(http_api_event(method, target, {"accept": "*/*"}))
        assert 400 <= result["statusCode"] < 500, (method, target, result["statusCode"])
        for leak in LEAKS:
            assert leak not in result["body"]


# ------------------------------------------------------ the Azure endpoint

ANALYZE = "/computervision/imageanalysis:analyze?api-version=2023-10-01&features=smartCrops"


@pytest.fixture(scope="module")
def _azure_shared():
    from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_analyzer

    fake = FakeAnalyzer()
    with shared_function(AZURE_MAX_BODY_BYTES="100000") as shared:
        with_analyzer(shared.module, fake)
        shared.fake = fake  # type: ignore[attr-defined]
        yield shared


@pytest.fixture
def azure_fn(_azure_shared):
    _azure_shared.fake.calls.clear()
    return _azure_shared


def _post_json(fn, body: bytes | str, content_type: str = "application/json") -> dict:
    data = body if isinstance(body, bytes) else body.encode()
    return fn.call(http_api_event("POST", ANALYZE, {"content-type": content_type}, data))


def _azure_error(result: dict, echoed: Sequence[str] = ()) -> dict:
    """The error object, checked for internals; a ``LEAKS`` token inside one of the
    ``echoed`` client inputs may appear (a message quoting an ``api-version`` of ".py")."""
    raw = result["body"]
    if result.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    for leak in LEAKS:
        if not any(leak in text for text in echoed):
            assert leak not in raw, leak
    return json.loads(raw)["error"]


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        "[]",
        "null",
        "42",
        '"s3://x/y"',
        '{"url": 42}',
        '{"url": null}',
        '{"url": ["s3://x/y"]}',
        '{"url": {"href": "s3://x/y"}}',
        '{"url": true}',
        '{"url": ""}',
        '{"uri": "s3://hardening-secret-bucket-name/private/source-prefix/photo.jpg"}',
        "{not json",
        '{"url": "' + "a" * 5000 + '"}',  # over-long
        b'{"url": "\xff\xfe"}',
    ],
)
def test_json_bodies_of_the_wrong_shape_are_400(azure_fn, body) -> None:
    result = _post_json(azure_fn, body)
    assert result["statusCode"] == 400, result["body"][:300]
    err = _azure_error(result)
    assert err["code"] == "InvalidRequest"
    assert azure_fn.fake.calls == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://example.com/photo.jpg",
        "file:///etc/passwd",
        "s3://another-bucket/private/source-prefix/photo.jpg",
        f"s3://{BUCKET}/photo.jpg",  # outside the prefix
        f"s3://{BUCKET}/{PREFIX}../photo.jpg",
        f"s3://{BUCKET}/{PREFIX}%2e%2e/x.jpg",
        f"https://{BUCKET}.s3.amazonaws.com.evil.example/{PREFIX}photo.jpg",
        f"https://evil.example/{BUCKET}.s3.amazonaws.com/{PREFIX}photo.jpg",
        f"https://s3.amazonaws.com/other/{PREFIX}photo.jpg",
        f"https://{BUCKET}.s3.amazonaws.com/{PREFIX}photo.jpg?versionId=1",
    ],
)
def test_url_bodies_never_leave_the_source_bucket(azure_fn, url: str) -> None:
    result = _post_json(azure_fn, json.dumps({"url": url}))
    assert result["statusCode"] == 400, (url, result["body"][:300])
    err = _azure_error(result)
    assert err["innererror"]["code"] == "InvalidImageUrl"
    assert azure_fn.fake.calls == []


def test_a_url_of_the_source_bucket_is_analysed(azure_fn) -> None:
    """The positive control for the refusals above."""
    result = _post_json(azure_fn, json.dumps({"url": f"s3://{BUCKET}/{PREFIX}photo.jpg"}))
    assert result["statusCode"] == 200, result["body"][:300]


@pytest.mark.parametrize(
    "query",
    [
        "api-version=2023-10-01&features=smartCrops&smartcrops-aspect-ratios=abc",
        "api-version=2023-10-01&features=smartCrops&smartcrops-aspect-ratios=1.0,,2",
        "api-version=2023-10-01&features=smartCrops&smartcrops-aspect-ratios=nan",
        "api-version=2023-10-01&features=smartCrops&smartcrops-aspect-ratios=1e308",
        "api-version=2023-10-01&features=smartCrops,tags",
        "api-version=%ff&features=smartCrops",
        "api-version=2023-10-01&api-version=2024-02-01&features=smartCrops",
        "features=smartCrops",
    ],
)
def test_bad_azure_queries_are_400(azure_fn, query: str) -> None:
    body = image_bytes(Image.new("RGB", (40, 30), "red"))
    event = http_api_event(
        "POST", "/computervision/imageanalysis:analyze?" + query, {"content-type": "application/octet-stream"}, body
    )
    result = azure_fn.call(event)
    assert result["statusCode"] == 400, (query[:80], result["body"][:300])
    _azure_error(result)


def test_the_largest_allowed_dimension_encodes_in_every_format() -> None:
    from smartthumb import render

    side = Settings.from_env({"MAX_DIMENSION": "16383"}).max_dimension
    strip = Image.new("RGB", (side, 2), "white")
    for fmt in ("JPEG", "PNG", "WEBP"):
        assert render.encode(strip, fmt, 50, None, 10_000_000)


def test_settings_reject_nonsense_limits() -> None:
    from smartthumb.config import ConfigError

    for name, value in (
        ("MAX_DIMENSION", "0"),
        ("MAX_DIMENSION", "16384"),  # past WebP's encoder limit: would be a 500, not a 413
        ("MAX_SOURCE_PIXELS", "-1"),
        ("MAX_OUTPUT_BYTES", "abc"),
    ):
        with pytest.raises(ConfigError):
            Settings.from_env({name: value})


# ------------------------------------------------------ hypothesis, Azure side

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_AZ_NAMES = st.sampled_from(["api-version", "features", "smartcrops-aspect-ratios", "Features", "model-version", "x"])
_AZ_VALUES = st.one_of(
    st.sampled_from(["2023-10-01", "smartCrops", "1.0", "0.75,1.8", "0.5", "2", "1e9", "-1", "nan", "", ",", "tags"]),
    st.text(max_size=20),
)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_BODIES = st.one_of(
    st.binary(max_size=200),
    _JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["url", "URL", "uri"]), _JSON_VALUES, max_size=2).map(
        lambda v: json.dumps(v).encode()
    ),
)


@given(
    st.lists(st.tuples(_AZ_NAMES, _AZ_VALUES), max_size=3),
    _BODIES,
    st.sampled_from(["application/json", "application/json", "application/octet-stream", "image/jpeg", "text/plain"]),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_azure_endpoint_never_500(azure_fn, pairs, body: bytes, content_type: str) -> None:
    from urllib.parse import urlencode

    # A valid base query most of the time, so the body is reached; the extra
    # pairs may still break it (repeats, bad ratios, unknown features).
    base = [("api-version", "2023-10-01"), ("features", "smartCrops")] if len(pairs) % 4 else []
    target = "/computervision/imageanalysis:analyze?" + urlencode(base + pairs)
    result = azure_fn.call(http_api_event("POST", target, {"content-type": content_type}, body))
    assert result["statusCode"] in (200, 400, 401, 404, 413, 415), result["body"][:300]
    if result["statusCode"] != 200:
        _azure_error(result, [text for pair in pairs for text in pair])  # Azure's error shape, no internals

"""The Azure-compatible endpoint: through the ThumbnailFunction handler (moto, a
fake analyzer), and with the real ``azure-ai-vision-imageanalysis`` SDK against
a running ``smartthumb serve`` (real models)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest
from PIL import Image

from smartthumb.errors import SourceUnavailable
from smartthumb.local_server import http_api_event
from tests.conftest import AZURE_RANGE_ERROR, SAMPLES, image_bytes, serve_subprocess
from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_analyzer

SOURCE = "smartthumb-source"
ANALYSIS = "smartthumb-analysis"
PREFIX = "img/"
ANALYZE = "/computervision/imageanalysis:analyze"
QUERY = "api-version=2023-10-01&features=smartCrops"


@pytest.fixture
def fake() -> FakeAnalyzer:
    return FakeAnalyzer()


@pytest.fixture
def thumbnail_fn(s3, monkeypatch, function_loader, fake):
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=ANALYSIS)
    s3.put_object(Bucket=SOURCE, Key=PREFIX + "chelsea.jpg", Body=(SAMPLES / "chelsea.jpg").read_bytes())
    s3.put_object(Bucket=SOURCE, Key=PREFIX + "notes.jpg", Body=b"plain text, not an image\n")
    monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
    monkeypatch.setenv("SOURCE_PREFIX", PREFIX)
    monkeypatch.setenv("ANALYSIS_BUCKET", ANALYSIS)
    monkeypatch.setenv("AZURE_MAX_BODY_BYTES", "100000")
    monkeypatch.setenv("SMARTCROP_ASPECT_RATIOS", "0.75,1.0,1.5")
    return with_analyzer(function_loader("thumbnail"), fake)


def post(fn, ctx, target: str, body: bytes, content_type: str = "application/octet-stream", **headers: str):
    event = http_api_event("POST", target, {"content-type": content_type, **headers}, body)
    return fn.handler(event, ctx)


def body_of(result) -> dict:
    raw = result["body"]
    if result.get("isBase64Encoded"):
        raw = base64.b64decode(raw)
    return json.loads(raw)


def photo() -> bytes:
    return (SAMPLES / "chelsea.jpg").read_bytes()


def test_binary_body_gives_azure_json(thumbnail_fn, lambda_context, fake):
    result = post(thumbnail_fn, lambda_context, f"{ANALYZE}?{QUERY}&smartcrops-aspect-ratios=0.9,1.33", photo())
    assert result["statusCode"] == 200, result["body"]
    assert result["headers"]["Content-Type"] == "application/json"
    doc = body_of(result)
    assert set(doc) == {"modelVersion", "metadata", "smartCropsResult"}
    assert doc["metadata"] == {"width": 451, "height": 300}
    values = doc["smartCropsResult"]["values"]
    assert [v["aspectRatio"] for v in values] == [0.9, 1.33]
    for v in values:
        b = v["boundingBox"]
        assert set(b) == {"x", "y", "w", "h"}
        assert b["x"] >= 0 and b["x"] + b["w"] <= 451 and b["y"] >= 0 and b["y"] + b["h"] <= 300
    assert fake.calls == [[0.9, 1.33]]


def test_no_ratio_gives_one_automatic_crop(thumbnail_fn, lambda_context, fake):
    result = post(thumbnail_fn, lambda_context, f"{ANALYZE}?{QUERY}", photo())
    assert result["statusCode"] == 200
    assert len(body_of(result)["smartCropsResult"]["values"]) == 1
    assert fake.calls == [None]


@pytest.mark.parametrize("ratios", ["2.5", "0.5", "0.9,1.81", "-1"])
def test_out_of_range_ratio_is_azures_exact_error(thumbnail_fn, lambda_context, fake, ratios):
    result = post(thumbnail_fn, lambda_context, f"{ANALYZE}?{QUERY}&smartcrops-aspect-ratios={ratios}", photo())
    assert result["statusCode"] == 400
    assert body_of(result) == AZURE_RANGE_ERROR
    assert result["headers"]["x-ms-error-code"] == "InvalidRequest"
    assert fake.calls == []


def test_query_names_are_case_insensitive_and_double_slash_is_tolerated(thumbnail_fn, lambda_context):
    target = (
        "//computervision/imageanalysis:analyze?API-Version=2023-10-01&Features=SmartCrops&SmartCrops-Aspect-Ratios=1.0"
    )
    result = post(thumbnail_fn, lambda_context, target, photo())
    assert result["statusCode"] == 200, result["body"]
    assert [v["aspectRatio"] for v in body_of(result)["smartCropsResult"]["values"]] == [1.0]


@pytest.mark.parametrize(
    ("query", "inner"),
    [
        ("api-version=2023-10-01", "BadArgument"),  # features missing
        ("api-version=2023-10-01&features=tags", "NotSupportedFeature"),
        ("api-version=2023-10-01&features=smartCrops,caption", "NotSupportedFeature"),
        ("features=smartCrops", "BadArgument"),  # api-version missing
        ("api-version=yesterday&features=smartCrops", "BadArgument"),
        ("api-version=2023-10-01&features=smartCrops&smartcrops-aspect-ratios=abc", "BadArgument"),
    ],
)
def test_bad_queries_are_azure_400s(thumbnail_fn, lambda_context, fake, query, inner):
    result = post(thumbnail_fn, lambda_context, f"{ANALYZE}?{query}", photo())
    assert result["statusCode"] == 400
    err = body_of(result)["error"]
    assert err["code"] == "InvalidRequest" and err["innererror"]["code"] == inner
    assert result["headers"]["x-ms-error-code"] == "InvalidRequest"
    assert fake.calls == []


def test_body_over_the_cap_is_refused_with_the_limit(thumbnail_fn, lambda_context, fake):
    big = image_bytes(Image.effect_noise((400, 400), 80).convert("RGB"), "PNG")
    assert len(big) > 100_000
    result = post(thumbnail_fn, lambda_context, f"{ANALYZE}?{QUERY}", big)
    assert result["statusCode"] == 400
    err = body_of(result)["error"]
    assert err["innererror"]["code"] == "InvalidImageSize" and "100000 bytes" in err["innererror"]["message"]
    assert fake.calls == []


@pytest.mark.parametrize(
    ("body", "inner"),
    [
        (b"", "InvalidImageSize"),
        (b"just some text", "InvalidImageFormat"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "InvalidImageFormat"),
    ],
)
def test_empty_or_undecodable_bodies_are_400s(thumbnail_fn, lambda_context, body, inner):
    result = post(thumbnail_fn, lambda_context, f"{ANALYZE}?{QUERY}", body)
    assert result["statusCode"] == 400
    assert body_of(result)["error"]["innererror"]["code"] == inner


@pytest.mark.parametrize(
    "url",
    [
        f"s3://{SOURCE}/{PREFIX}chelsea.jpg",
        f"https://{SOURCE}.s3.amazonaws.com/{PREFIX}chelsea.jpg",
        f"https://{SOURCE}.s3.eu-west-1.amazonaws.com/{PREFIX}chelsea.jpg",
        f"https://s3.us-east-1.amazonaws.com/{SOURCE}/{PREFIX}chelsea.jpg",
    ],
)
def test_url_body_for_a_source_bucket_image(thumbnail_fn, lambda_context, fake, url):
    result = post(
        thumbnail_fn,
        lambda_context,
        f"{ANALYZE}?{QUERY}&smartcrops-aspect-ratios=1.0",
        json.dumps({"url": url}).encode(),
        "application/json",
    )
    assert result["statusCode"] == 200, result["body"]
    assert body_of(result)["metadata"] == {"width": 451, "height": 300}


def test_url_body_is_answered_from_the_sidecar_when_it_holds_the_ratios(thumbnail_fn, lambda_context, fake):
    target = "/analysis?id=chelsea.jpg"  # computes and stores the sidecar (0.75, 1.0, 1.5)
    assert thumbnail_fn.handler(http_api_event("GET", target, {}), lambda_context)["statusCode"] == 200
    calls = len(fake.calls)
    body = json.dumps({"url": f"s3://{SOURCE}/{PREFIX}chelsea.jpg"}).encode()
    result = post(
        thumbnail_fn, lambda_context, f"{ANALYZE}?{QUERY}&smartcrops-aspect-ratios=1.5,0.75", body, "application/json"
    )
    assert result["statusCode"] == 200
    assert result["headers"]["X-Smartthumb-Analysis"] == "sidecar"
    assert [v["aspectRatio"] for v in body_of(result)["smartCropsResult"]["values"]] == [1.5, 0.75]
    assert len(fake.calls) == calls


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://example.com/cat.jpg",
        f"s3://other-bucket/{PREFIX}chelsea.jpg",
        f"s3://{SOURCE}/private/chelsea.jpg",  # outside SOURCE_PREFIX
        f"s3://{SOURCE}/{PREFIX}../secret.jpg",
        f"https://{SOURCE}.s3.amazonaws.com.evil.example/{PREFIX}chelsea.jpg",
        f"s3://{SOURCE}/{PREFIX}missing.jpg",
        42,
        None,
    ],
)
def test_other_urls_are_refused_without_fetching(thumbnail_fn, lambda_context, fake, monkeypatch, url):
    opened = []
    real = socket.create_connection
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: opened.append(a) or real(*a, **k))
    result = post(
        thumbnail_fn, lambda_context, f"{ANALYZE}?{QUERY}", json.dumps({"url": url}).encode(), "application/json"
    )
    assert result["statusCode"] == 400
    assert body_of(result)["error"]["innererror"]["code"] == "InvalidImageUrl"
    assert opened == [] and fake.calls == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"url": ' + b"1" * 4400 + b"}",  # json refuses integers over 4300 digits with a plain ValueError
        b'{"url": ' + b"[" * 3000 + b"]" * 3000 + b"}",
        json.dumps({"url": f"s3://[{SOURCE}/{PREFIX}chelsea.jpg"}).encode(),  # urlsplit: "Invalid IPv6 URL"
        json.dumps({"url": f"s3://{SOURCE}]/{PREFIX}chelsea.jpg"}).encode(),
    ],
    ids=["syntax", "long-integer", "deep-nesting", "open-bracket-host", "close-bracket-host"],
)
def test_malformed_json_body(thumbnail_fn, lambda_context, body):
    result = post(thumbnail_fn, lambda_context, f"{ANALYZE}?{QUERY}", body, "application/json")
    assert result["statusCode"] == 400
    assert body_of(result)["error"]["innererror"]["code"] == "InvalidImageUrl"


def test_subscription_key_is_checked_when_configured(s3, monkeypatch, function_loader, fake, lambda_context):
    s3.create_bucket(Bucket=SOURCE)
    monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
    monkeypatch.setenv("AZURE_API_KEY", "s3cret-key")
    fn = with_analyzer(function_loader("thumbnail"), fake)
    target = f"{ANALYZE}?{QUERY}"
    missing = post(fn, lambda_context, target, photo())
    wrong = post(fn, lambda_context, target, photo(), **{"ocp-apim-subscription-key": "nope"})
    right = post(fn, lambda_context, target, photo(), **{"ocp-apim-subscription-key": "s3cret-key"})
    assert missing["statusCode"] == 401 and wrong["statusCode"] == 401
    assert body_of(missing)["error"]["code"] == "401"
    assert right["statusCode"] == 200
    assert len(fake.calls) == 1


def test_transient_trouble_is_503_with_retry_after(thumbnail_fn, lambda_context):
    def unavailable(data, ratios, settings):
        raise SourceUnavailable("the model is warming up")

    with_analyzer(thumbnail_fn, unavailable)
    result = post(thumbnail_fn, lambda_context, f"{ANALYZE}?{QUERY}", photo())
    assert result["statusCode"] == 503
    assert result["headers"]["Retry-After"] == "1"
    assert result["headers"]["x-ms-error-code"] == body_of(result)["error"]["code"]


def test_get_analysis_returns_the_sidecar_result(thumbnail_fn, lambda_context, fake, s3):
    first = thumbnail_fn.handler(http_api_event("GET", "/analysis?id=chelsea.jpg", {}), lambda_context)
    assert first["statusCode"] == 200
    assert first["headers"]["X-Smartthumb-Analysis"] == "computed"
    doc = body_of(first)
    assert [v["aspectRatio"] for v in doc["smartCropsResult"]["values"]] == [0.75, 1.0, 1.5]
    stored = json.loads(s3.get_object(Bucket=ANALYSIS, Key="analysis/img/chelsea.jpg.json")["Body"].read())
    # The Azure answer as stored, plus the deciding region and its origin (smartthumb.focus).
    assert {k: doc[k] for k in stored["azure"]} == stored["azure"] and stored["trigger"] == "OnDemand"
    assert doc["regionOrigin"] == "saliency" and doc["manualRegion"] is None
    calls = len(fake.calls)
    second = thumbnail_fn.handler(http_api_event("GET", "/analysis?ID=chelsea.jpg", {}), lambda_context)
    assert second["headers"]["X-Smartthumb-Analysis"] == "sidecar" and body_of(second) == doc
    assert len(fake.calls) == calls


def test_get_analysis_waits_no_longer_than_lambda_allows(thumbnail_fn, lambda_context, monkeypatch, function_loader):
    # An analysis that cannot finish until the test releases it: if the route
    # waited for it, the call would block for 10 s and then answer 200.
    release = threading.Event()
    fake = FakeAnalyzer()

    def blocked(data, ratios, settings):
        release.wait(10)
        return fake(data, ratios, settings)

    fn = with_analyzer(function_loader("thumbnail"), blocked)  # its cache runs the blocked analyzer
    lambda_context.remaining_ms = 1700  # 200 ms to wait after keeping 1.5 s to answer
    try:
        result = fn.handler(http_api_event("GET", "/analysis?id=chelsea.jpg", {}), lambda_context)
        answered_while_blocked = not release.is_set()
    finally:
        release.set()
    assert answered_while_blocked
    assert result["statusCode"] == 503 and result["headers"]["Retry-After"] == "1"
    assert body_of(result)["error"]["code"] == "ServiceUnavailable"


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("/analysis?id=nope.jpg", 404, "NotFound"),
        ("/analysis", 400, "InvalidRequest"),
        ("/analysis?id=../x", 400, "InvalidRequest"),
        ("/analysis?id=chelsea.jpg&id=astronaut.jpg", 400, "InvalidRequest"),  # joined, it was a 404
        ("/analysis?id=chelsea.jpg&ID=x", 400, "InvalidRequest"),
        ("/analysis?id=notes.jpg", 400, "InvalidRequest"),
    ],
)
def test_get_analysis_errors(thumbnail_fn, lambda_context, target, status, code):
    result = thumbnail_fn.handler(http_api_event("GET", target, {}), lambda_context)
    assert result["statusCode"] == status
    assert body_of(result)["error"]["code"] == code
    assert result["headers"]["x-ms-error-code"] == code


# --------------------------------------------------- the real SDK, real server


def free_store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    store.mkdir()
    for name in ("astronaut.jpg", "chelsea.jpg"):
        shutil.copy(SAMPLES / name, store / name)
    return store


@pytest.fixture
def live_server(tmp_path):
    """``smartthumb serve --port 0`` in a subprocess on 127.0.0.1 with a store folder."""
    store = free_store(tmp_path)
    env = dict(os.environ)
    env.update(
        {
            "AZURE_API_KEY": "local-test-key",
            "LOCAL_ANALYSIS_STORE": str(tmp_path / "sidecars"),
            "SOURCE_BUCKET": "",
            "ANALYSIS_BUCKET": "",
        }
    )
    with serve_subprocess(store, env) as base:
        yield base, store


@pytest.mark.model
@pytest.mark.slow
def test_official_sdk_gets_smart_crops(live_server):
    from azure.ai.vision.imageanalysis import ImageAnalysisClient
    from azure.ai.vision.imageanalysis.models import VisualFeatures
    from azure.core.credentials import AzureKeyCredential

    base, store = live_server
    data = (store / "astronaut.jpg").read_bytes()
    # A trailing '/' makes the SDK send '//computervision/...': tolerated.
    for endpoint in (base, base + "/"):
        client = ImageAnalysisClient(endpoint=endpoint, credential=AzureKeyCredential("local-test-key"))
        result = client.analyze(
            image_data=data, visual_features=[VisualFeatures.SMART_CROPS], smart_crops_aspect_ratios=[0.9, 1.33]
        )
        assert result.metadata.width == 512 and result.metadata.height == 512
        assert result.model_version.startswith("smartthumb-")
        crops = result.smart_crops.list
        assert [c.aspect_ratio for c in crops] == [0.9, 1.33]
        for c in crops:
            b = c.bounding_box
            assert b.x >= 0 and b.y >= 0 and b.x + b.width <= 512 and b.y + b.height <= 512
            assert abs(b.width / b.height - c.aspect_ratio) < 0.01
            # The astronaut's face (about x 170-290, y 60-200) is kept in every crop.
            assert b.x <= 170 and b.x + b.width >= 290 and b.y <= 60 and b.y + b.height >= 200


@pytest.mark.model
@pytest.mark.slow
def test_official_sdk_sees_azure_errors(live_server):
    from azure.ai.vision.imageanalysis import ImageAnalysisClient
    from azure.ai.vision.imageanalysis.models import VisualFeatures
    from azure.core.credentials import AzureKeyCredential
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    base, store = live_server
    data = (store / "chelsea.jpg").read_bytes()
    client = ImageAnalysisClient(endpoint=base, credential=AzureKeyCredential("local-test-key"))
    with pytest.raises(HttpResponseError) as caught:
        client.analyze(image_data=data, visual_features=[VisualFeatures.SMART_CROPS], smart_crops_aspect_ratios=[2.5])
    assert caught.value.status_code == 400
    assert caught.value.error.code == "InvalidRequest"
    assert "allowed range [0.75 to 1.8]" in str(caught.value)

    with pytest.raises(HttpResponseError) as caught:
        client.analyze(image_data=data, visual_features=[VisualFeatures.TAGS])
    assert caught.value.status_code == 400

    wrong = ImageAnalysisClient(endpoint=base, credential=AzureKeyCredential("wrong"))
    with pytest.raises(ClientAuthenticationError) as caught:
        wrong.analyze(image_data=data, visual_features=[VisualFeatures.SMART_CROPS])
    assert caught.value.status_code == 401

    # Automatic crop (no ratio): one box, ratio within Azure's 0.5-2.0.
    auto = client.analyze(image_data=data, visual_features=[VisualFeatures.SMART_CROPS])
    assert len(auto.smart_crops.list) == 1 and 0.5 <= auto.smart_crops.list[0].aspect_ratio <= 2.0

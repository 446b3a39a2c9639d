"""Who may use GET /analysis and the analyze endpoint (``smartthumb.azure.auth``)."""

from __future__ import annotations

import base64
import json
import time

import boto3
import pytest
from PIL import Image

from smartthumb.local_server import http_api_event
from smartthumb.signing import sign_query
from tests.conftest import image_bytes

SECRET = "analysis-auth-secret"
KEY = "azure-key-for-tests"
ANALYZE = (
    "/computervision/imageanalysis:analyze?api-version=2023-10-01&features=smartCrops&smartcrops-aspect-ratios=1.0"
)


def _status(result: dict) -> tuple[int, str]:
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    code = json.loads(body).get("error", {}).get("code", "") if result["statusCode"] != 200 else ""
    return result["statusCode"], code


def _analyze(fn, headers: dict | None = None) -> dict:
    data = image_bytes(Image.new("RGB", (64, 48), (20, 90, 200)))
    event = http_api_event("POST", ANALYZE, {"content-type": "image/jpeg", **(headers or {})}, data)
    return fn.call(event)


@pytest.fixture
def fake_analysis(monkeypatch):
    """The analyze endpoint's models replaced by a fixed answer: this file tests who gets in."""
    from smartthumb.azure import routes

    answer = {"modelVersion": "test", "metadata": {"width": 64, "height": 48}, "smartCropsResult": {"values": []}}
    monkeypatch.setattr(routes.contract, "smart_crops_answer", lambda analysis: answer)
    from smartthumb.sidecars import AnalysisCache

    monkeypatch.setattr(AnalysisCache, "analyse_bytes", lambda self, data, ratios: None)


def test_unsigned_analysis_is_403_when_signing_is_on(make_fn) -> None:
    fn = make_fn(SIGNING_SECRET=SECRET)
    assert _status(fn.get("/analysis?id=photo.jpg")) == (403, "Forbidden")
    assert _status(fn.get("/analysis?id=photo.jpg&sig=" + "A" * 43)) == (403, "Forbidden")
    # A /th signature does not open /analysis: the path is signed too.
    assert _status(fn.get("/analysis?" + sign_query(SECRET, "id=photo.jpg")))[0] == 403


def test_signed_analysis_passes_the_gate(make_fn) -> None:
    fn = make_fn(SIGNING_SECRET=SECRET)
    # An id the store does not have: past the gate it is Azure's 404 (no models run).
    signed = sign_query(SECRET, "id=nothing.jpg", path="/analysis", expires_at=int(time.time()) + 60)
    assert _status(fn.get("/analysis?" + signed)) == (404, "NotFound")
    expired = sign_query(SECRET, "id=photo.jpg", path="/analysis", expires_at=int(time.time()) - 1)
    assert _status(fn.get("/analysis?" + expired)) == (403, "Forbidden")


def test_keyless_analyze_is_403_when_signing_is_on(make_fn) -> None:
    fn = make_fn(SIGNING_SECRET=SECRET)
    assert _status(_analyze(fn)) == (403, "Forbidden")


def test_keyless_analyze_is_403_on_lambda(make_fn) -> None:
    fn = make_fn(AWS_LAMBDA_FUNCTION_NAME="smartthumb-thumbnail")
    assert _status(_analyze(fn)) == (403, "Forbidden")


def test_keyless_analyze_stays_open_locally(make_fn, fake_analysis) -> None:
    fn = make_fn()
    assert _status(_analyze(fn)) == (200, "")


def test_analyze_with_the_key_from_ssm(make_fn, fake_analysis) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(Name="/smartthumb/azure", Value=KEY, Type="SecureString")
    fn = make_fn(SIGNING_SECRET=SECRET, AZURE_API_KEY_PARAM="/smartthumb/azure")
    assert _status(_analyze(fn)) == (401, "401")
    assert _status(_analyze(fn, {"ocp-apim-subscription-key": "wrong"})) == (401, "401")
    assert _status(_analyze(fn, {"ocp-apim-subscription-key": KEY})) == (200, "")


def test_an_unreadable_key_fails_closed(make_fn) -> None:
    fn = make_fn(AZURE_API_KEY_PARAM="/does/not/exist")
    assert _status(_analyze(fn, {"ocp-apim-subscription-key": KEY})) == (503, "ServiceUnavailable")


def test_cli_signs_analysis_urls(make_fn, capsys) -> None:
    from smartthumb.cli import main as cli_main

    fn = make_fn(SIGNING_SECRET=SECRET)
    assert cli_main(["sign", "--path", "/analysis", "id=nothing.jpg", "--expires", "60"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith("/analysis?id=nothing.jpg&exp=")
    assert _status(fn.get(url)) == (404, "NotFound")  # past the signature gate

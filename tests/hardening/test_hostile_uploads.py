"""The hostile corpus through the other two doors: the Azure-compatible endpoint
(image body) and the AnalyzeFunction (S3 upload event), with the real models.

Each source must give a correct analysis or the named error: a 400 in
Azure's format for the endpoint, a recorded permanent failure (an error
sidecar, the event returned rather than raised, so it is not retried) for the
upload. Never a 500 and never an exception out of the handler.
"""

from __future__ import annotations

import base64
import copy
import json

import pytest
from botocore.exceptions import ClientError

from smartthumb.local_server import http_api_event
from tests.conftest import EVENTS, FakeLambdaContext
from tests.hardening.conftest import BUCKET, PREFIX
from tests.hardening.corpus import HARDENING_ENV, corpus

pytestmark = [pytest.mark.slow, pytest.mark.model]

ANALYSIS_BUCKET = "hardening-analysis-bucket"
ANALYZE = "/computervision/imageanalysis:analyze?api-version=2023-10-01&features=smartCrops"
INNER_FOR = {413: "InvalidImageSize", 415: "InvalidImageFormat"}
LEAKS = (BUCKET, PREFIX, ANALYSIS_BUCKET, "Traceback", "/work/", ".py", "PIL")


@pytest.fixture
def env(s3, monkeypatch):
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket=ANALYSIS_BUCKET)
    monkeypatch.setenv("SOURCE_BUCKET", BUCKET)
    monkeypatch.setenv("SOURCE_PREFIX", PREFIX)
    monkeypatch.setenv("ANALYSIS_BUCKET", ANALYSIS_BUCKET)
    monkeypatch.setenv("ANALYSIS_PREFIX", "analysis/")
    monkeypatch.setenv("AZURE_MAX_BODY_BYTES", str(1024 * 1024))
    for name, value in HARDENING_ENV.items():
        monkeypatch.setenv(name, value)
    return s3


def _azure_body(result: dict) -> dict:
    raw = result["body"]
    if result.get("isBase64Encoded"):
        raw = base64.b64decode(raw)
    return json.loads(raw)


def test_corpus_through_the_azure_endpoint(env, function_loader) -> None:
    fn = function_loader("thumbnail")
    ctx = FakeLambdaContext()
    for c in corpus():
        event = http_api_event(
            "POST", ANALYZE + "&smartcrops-aspect-ratios=1.0", {"content-type": "image/jpeg"}, c.data
        )
        result = fn.handler(event, ctx)
        body = _azure_body(result)
        if c.status == 200:
            assert result["statusCode"] == 200, (c.name, body)
            width, height = body["metadata"]["width"], body["metadata"]["height"]
            box = body["smartCropsResult"]["values"][0]["boundingBox"]
            assert box["x"] >= 0 and box["y"] >= 0 and box["w"] > 0 and box["h"] > 0, c.name
            assert box["x"] + box["w"] <= width and box["y"] + box["h"] <= height, c.name
            if c.name.startswith("orientation-"):
                assert (width, height) == (80, 60), c.name  # upright size
            continue
        assert result["statusCode"] == 400, (c.name, result["statusCode"], body)
        assert result["headers"]["x-ms-error-code"] == "InvalidRequest"
        inner = body["error"]["innererror"]["code"]
        expected = "InvalidImageSize" if c.name == "empty.jpg" else INNER_FOR[c.status]
        assert inner == expected, (c.name, body)
        for leak in LEAKS:
            assert leak not in result["body"], (c.name, leak)


def _put_event(key: str, etag: str, size: int, sequencer: str) -> dict:
    event = copy.deepcopy(json.loads((EVENTS / "analyze_s3_put.json").read_text()))
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = BUCKET
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{BUCKET}"
    record["s3"]["object"] = {"key": key, "eTag": etag, "size": size, "sequencer": sequencer}
    return event


def test_corpus_through_the_analyze_function(env, function_loader) -> None:
    fn = function_loader("analyze")
    ctx = FakeLambdaContext()
    for n, c in enumerate(corpus()):
        key = PREFIX + c.name
        etag = env.put_object(Bucket=BUCKET, Key=key, Body=c.data)["ETag"].strip('"')
        result = fn.handler(_put_event(key, etag, len(c.data), f"00{n:016X}"), ctx)
        try:
            doc = json.loads(env.get_object(Bucket=ANALYSIS_BUCKET, Key=f"analysis/{key}.json")["Body"].read())
        except ClientError:
            doc = None
        if c.status == 200:
            assert result["outcomes"] == ["analysed"], (c.name, result)
            assert doc is not None and doc["status"] != "error", c.name
            continue
        # A permanent failure: returned (no retry, no dead-letter churn) and recorded.
        assert result["outcomes"] == ["failed-permanently"], (c.name, result)
        assert doc is not None and doc["status"] == "error", c.name
        assert doc["error"]["status"] == c.status, (c.name, doc["error"])
        assert doc["error"]["code"] == c.code, (c.name, doc["error"])

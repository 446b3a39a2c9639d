"""Both functions under the real Lambda Runtime Interface Emulator, with the infra/events files.

One moto S3 (127.0.0.1) is shared by ThumbnailFunction and AnalyzeFunction,
each in its own emulator started from template.yaml by infra/rie/run.py, so
a sidecar AnalyzeFunction writes is the one ThumbnailFunction's ``c=7`` reads.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from infra.rie import run

EVENTS = run.REPO / "infra" / "events"

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def event(name: str, **changes: Any) -> dict[str, Any]:
    data = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    server = run.LocalS3().start()
    env = run.function_spec("AnalyzeFunction").environment
    server.prepare(env, seed_samples=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return run.function_spec("ThumbnailFunction").environment


@pytest.fixture(scope="module")
def thumbnail(s3: Any) -> Iterator[Any]:
    with run.LocalLambda("ThumbnailFunction", s3_endpoint=s3.endpoint) as fn:
        yield fn


@pytest.fixture(scope="module")
def analyze(s3: Any) -> Iterator[Any]:
    with run.LocalLambda("AnalyzeFunction", s3_endpoint=s3.endpoint) as fn:
        yield fn


def decoded_image(response: dict[str, Any]) -> Image.Image:
    assert response["isBase64Encoded"] is True
    image = Image.open(io.BytesIO(base64.b64decode(response["body"])))
    image.load()
    return image


def sidecar(s3: Any, env: dict[str, str], source_key: str) -> dict[str, Any] | None:
    client = s3.client()
    key = f"{env['ANALYSIS_PREFIX']}{source_key}.json"
    try:
        body = client.get_object(Bucket=env["ANALYSIS_BUCKET"], Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    return json.loads(body)


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("th_fit.json", (200, 200)),  # 512×512 source
        ("th_blind_crop.json", (200, 200)),  # 600×400, c=4
        ("th_no_padding.json", (640, 427)),  # never upscaled, p=0 keeps the source size
    ],
)
def test_th_event_renders_an_image_of_the_right_size(thumbnail: Any, name: str, size: tuple[int, int]) -> None:
    result = thumbnail.invoke(event(name))
    response = result.payload
    assert not result.is_error, response
    assert response["statusCode"] == 200, response.get("body")
    image = decoded_image(response)
    assert image.size == size
    assert response["headers"]["Content-Type"] == Image.MIME[image.format]
    # CACHE_CONTROL comes from template.yaml (CacheMaxAge's default), through the runner.
    assert response["headers"]["Cache-Control"] == "public, max-age=86400"


def test_th_width_only_keeps_the_aspect_ratio(thumbnail: Any) -> None:
    response = thumbnail.invoke(event("th_width_only.json")).payload
    assert response["statusCode"] == 200
    width, height = decoded_image(response).size
    assert width == 300
    assert abs(height - 300 * 300 / 451) <= 1  # chelsea.jpg is 451×300


def test_th_without_webp_in_accept_answers_in_the_source_format(thumbnail: Any) -> None:
    request = event("th_fit.json")
    request["headers"] = {**request["headers"], "accept": "image/jpeg"}
    response = thumbnail.invoke(request).payload
    assert response["statusCode"] == 200
    assert decoded_image(response).format == "JPEG"


def test_th_conditional_get_answers_304(thumbnail: Any) -> None:
    first = thumbnail.invoke(event("th_fit.json")).payload
    etag = first["headers"]["ETag"]
    request = event("th_fit.json")
    request["headers"] = {**request["headers"], "if-none-match": etag}
    second = thumbnail.invoke(request).payload
    assert second["statusCode"] == 304
    assert not second.get("body")


def test_head_th_answers_the_get_headers_without_a_body(thumbnail: Any) -> None:
    get = thumbnail.invoke(event("th_fit.json")).payload
    head = thumbnail.invoke(event("head_th.json")).payload
    assert head["statusCode"] == 200
    assert not head.get("body")
    for name in ("Content-Type", "ETag", "Cache-Control", "Vary"):
        assert head["headers"][name] == get["headers"][name], name


@pytest.mark.parametrize(("query", "status"), [("id=astronaut.jpg&w=0", 400), ("id=no-such.jpg&w=20", 404)])
def test_head_th_errors_carry_the_status_without_a_body(thumbnail: Any, query: str, status: int) -> None:
    request = event("head_th.json", rawQueryString=query)
    response = thumbnail.invoke(request).payload
    assert response["statusCode"] == status
    assert not response.get("body")
    assert response["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize(("name", "status"), [("th_not_found.json", 404), ("th_bad_param.json", 400)])
def test_th_errors_are_json(thumbnail: Any, name: str, status: int) -> None:
    response = thumbnail.invoke(event(name)).payload
    assert response["statusCode"] == status
    error = json.loads(response["body"])["error"]
    assert error["code"] and error["message"]
    if status == 400:
        assert "w" in error["message"]


def test_s3_put_event_writes_the_sidecar_and_th_c7_uses_it(
    analyze: Any, thumbnail: Any, s3: Any, env: dict[str, str]
) -> None:
    put = event("analyze_s3_put.json")
    key = put["Records"][0]["s3"]["object"]["key"]
    result = analyze.invoke(put)
    assert not result.is_error, result.payload
    assert result.payload["outcomes"] == ["analysed"]

    doc = sidecar(s3, env, key)
    assert doc is not None
    head = s3.client().head_object(Bucket=env["SOURCE_BUCKET"], Key=key)
    assert doc["status"] == "ok"
    assert doc["source"]["etag"].strip('"') == head["ETag"].strip('"')
    values = doc["azure"]["smartCropsResult"]["values"]
    assert [v["aspectRatio"] for v in values] == [0.75, 1.0, 1.5, 1.78]  # template's SmartCropAspectRatios
    assert doc["azure"]["metadata"] == {"width": 512, "height": 512}

    response = thumbnail.invoke(event("th_smart_crop.json")).payload  # astronaut.jpg, 300×100, c=7
    assert response["statusCode"] == 200
    assert decoded_image(response).size == (300, 100)
    assert response["headers"]["X-Smartthumb-Region"] == "sidecar"

    stored = thumbnail.invoke(event("analysis_get.json")).payload  # GET /analysis?id=astronaut.jpg
    assert stored["statusCode"] == 200
    assert stored["headers"]["X-Smartthumb-Analysis"] == "sidecar"
    answer = json.loads(stored["body"])  # the Azure answer plus the deciding region (smartthumb.focus)
    assert {k: answer[k] for k in doc["azure"]} == doc["azure"]
    assert answer["regionOrigin"] == "faces" and answer["faces"][0]["score"] > 0.5


@pytest.mark.parametrize(
    ("name", "size"),
    [("azure_analyze_binary.json", (451, 300)), ("azure_analyze_url.json", (600, 400))],  # chelsea, coffee
)
def test_azure_analyze_endpoint_answers_in_azure_shape(thumbnail: Any, name: str, size: tuple[int, int]) -> None:
    response = thumbnail.invoke(event(name)).payload
    assert response["statusCode"] == 200, response.get("body")
    answer = json.loads(response["body"])
    assert answer["metadata"] == {"width": size[0], "height": size[1]}
    values = answer["smartCropsResult"]["values"]
    assert [v["aspectRatio"] for v in values] == [0.9, 1.33]  # smartcrops-aspect-ratios=0.9,1.33
    for value in values:
        box = value["boundingBox"]
        assert box["x"] >= 0 and box["y"] >= 0
        assert box["x"] + box["w"] <= size[0] and box["y"] + box["h"] <= size[1]
        assert abs(box["w"] / box["h"] - value["aspectRatio"]) < 0.02


def test_azure_analyze_out_of_range_ratio_is_azures_400(thumbnail: Any) -> None:
    response = thumbnail.invoke(event("azure_analyze_bad_ratio.json")).payload
    assert response["statusCode"] == 400
    assert response["headers"]["x-ms-error-code"] == "InvalidRequest"
    error = json.loads(response["body"])["error"]
    assert error["innererror"]["code"] == "BadArgument"


def test_s3_delete_event_removes_the_sidecar(analyze: Any, s3: Any, env: dict[str, str]) -> None:
    put = event("analyze_s3_put.json")
    key = put["Records"][0]["s3"]["object"]["key"]
    # Analysed here, or already by the test above: the same event again is a duplicate.
    assert analyze.invoke(put).payload["outcomes"] in (["analysed"], ["duplicate"], ["up-to-date"])
    assert sidecar(s3, env, key) is not None
    delete = event("analyze_s3_delete.json")
    assert delete["Records"][0]["s3"]["object"]["key"] == key
    result = analyze.invoke(delete)
    assert result.payload["outcomes"] == ["deleted"]
    assert sidecar(s3, env, key) is None


@pytest.mark.parametrize("name", ["analyze_batch_v1.json", "analyze_batch_v2.json"])
def test_batch_operations_event_analyses_each_task(analyze: Any, s3: Any, env: dict[str, str], name: str) -> None:
    batch = event(name)
    answer = analyze.invoke(batch).payload
    assert answer["invocationSchemaVersion"] == batch["invocationSchemaVersion"]
    assert answer["invocationId"] == batch["invocationId"]
    assert [(r["taskId"], r["resultCode"]) for r in answer["results"]] == [
        (t["taskId"], "Succeeded") for t in batch["tasks"]
    ]
    for task in batch["tasks"]:
        doc = sidecar(s3, env, task["s3Key"])
        assert doc is not None and doc["status"] == "ok"
        assert doc["trigger"] == "BatchOperations"


def test_each_function_had_exactly_one_cold_start(thumbnail: Any, analyze: Any) -> None:
    """Every invocation reuses the one runtime process: init ran once per function,
    however many invocations this module made before (none when this test runs alone)."""
    for fn in (thumbnail, analyze):
        for _ in range(2):
            fn.invoke({"version": "2.0", "rawPath": "/th", "requestContext": {"http": {"method": "GET"}}})
        assert len(fn.init_durations_ms()) == 1, fn.logs()
        assert len(fn.invoke_durations_ms()) >= 2


def test_text_uploaded_as_jpg_is_a_permanent_failure_recorded_not_raised(
    analyze: Any, s3: Any, env: dict[str, str]
) -> None:
    key = env["SOURCE_PREFIX"] + "notes.jpg"
    s3.client().put_object(Bucket=env["SOURCE_BUCKET"], Key=key, Body=b"not an image at all")
    put = event("analyze_s3_put.json")
    put["Records"][0]["s3"]["object"].update({"key": key, "size": 19, "eTag": "", "sequencer": "0062A1B2C3D4E5F699"})
    result = analyze.invoke(put)
    assert not result.is_error, result.payload  # a retry could not help: no error for Lambda to retry
    assert result.payload["outcomes"] == ["failed-permanently"]
    doc = sidecar(s3, env, key)
    assert doc is not None and doc["status"] == "error" and doc["error"]["code"]


def test_unreachable_s3_fails_the_invocation_so_lambda_retries() -> None:
    """A transient failure must surface as a function error (Lambda then retries, then the DLQ)."""
    closed = f"http://127.0.0.1:{run.free_port()}"
    with run.LocalLambda("AnalyzeFunction", s3_endpoint=closed, extra_env={"AWS_MAX_ATTEMPTS": "1"}) as fn:
        result = fn.invoke(event("analyze_s3_put.json"))
    assert result.is_error, result.payload
    assert result.payload["errorType"] and result.payload["errorMessage"]

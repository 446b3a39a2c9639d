"""`sam local invoke` of the built template, one run per file of infra/events/.

Each event is one ``sam local invoke FUNCTION --event infra/events/NAME`` (a
fresh container, as a user gets it), with infra/env.json's variables pointing
at moto. What the template declares (handler, layer, environment) is what
runs: these tests fail when any of it is wrong.

The events that do not depend on each other start in groups (:func:`wave`):
SAM rebuilds its emulation image on every invoke of a template with a local
layer, and invokes started together wait for one build instead.
The S3 put → ``c=7``/``/analysis`` → delete sequence runs in order.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from .conftest import ENCODED_KEY_SOURCE, EVENTS, SAMPLES, Invocation, MotoS3, Running, SamLocal, event, sidecar

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def quiet_teardown(result: Invocation) -> None:
    """The runtime ended with the container: no client error, no traceback in the log."""
    assert "Failed to get next invocation" not in result.log, result.log[-2000:]
    assert "Traceback" not in result.log, result.log[-2000:]


def image_of(result: Invocation) -> Image.Image:
    image = Image.open(io.BytesIO(result.body()))
    image.load()
    return image


#: The independent events, in groups started together (a group waits for the one before).
#: The model-heavy ThumbnailFunction events run alone: with its 20 s timeout, a busy
#: 2-core machine running a dozen containers at once let them time out.
WAVES: list[dict[str, str]] = [
    {
        "th_fit.json": "ThumbnailFunction",
        "th_blind_crop.json": "ThumbnailFunction",
        "th_no_padding.json": "ThumbnailFunction",
        "th_width_only.json": "ThumbnailFunction",
        "th_signed.json": "ThumbnailFunction",
        "head_th.json": "ThumbnailFunction",
        "th_not_found.json": "ThumbnailFunction",
        "th_bad_param.json": "ThumbnailFunction",
        "azure_analyze_bad_ratio.json": "ThumbnailFunction",
    },
    {"azure_analyze_binary.json": "ThumbnailFunction"},
    {"azure_analyze_url.json": "ThumbnailFunction"},
    {
        "s3_put_encoded_key.json": "AnalyzeFunction",
        "analyze_batch_v1.json": "AnalyzeFunction",
        "analyze_batch_v2.json": "AnalyzeFunction",
    },
]


@pytest.fixture(scope="module")
def wave(sam_local: SamLocal, moto: MotoS3, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Running]:
    """Every independent event, invoked before any of their tests looks (so test order does not matter)."""
    tmp = tmp_path_factory.mktemp("sam-invoke-wave")
    done: dict[str, Running] = {}
    for group in WAVES:
        running = {name: sam_local.start(function, EVENTS / name, tmp) for name, function in group.items()}
        for invocation in running.values():
            invocation.process.wait(timeout=600)
        done.update(running)
    return done


def test_every_event_file_is_invoked() -> None:
    sequence = {"analyze_s3_put.json", "th_smart_crop.json", "analysis_get.json", "analyze_s3_delete.json"}
    assert {p.name for p in EVENTS.glob("*.json")} == {name for group in WAVES for name in group} | sequence


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("th_fit.json", (200, 200)),  # astronaut 512×512
        ("th_blind_crop.json", (200, 200)),  # coffee 600×400, c=4
        ("th_no_padding.json", (640, 427)),  # rocket, never upscaled, p=0
        ("th_width_only.json", (300, 200)),  # chelsea 451×300, aspect kept
        ("th_signed.json", (200, 200)),  # env.json sets no signing key: the signature is not needed
    ],
)
def test_th_event_answers_a_thumbnail(wave: dict[str, Running], name: str, size: tuple[int, int]) -> None:
    result = wave[name].result()
    assert_thumbnail(result, size)
    quiet_teardown(result)


def assert_thumbnail(result: Invocation, size: tuple[int, int]) -> None:
    response = result.payload
    assert response.get("statusCode") == 200, response
    image = image_of(result)
    assert image.size == size
    # The events' Accept names AVIF first and the template enables it (EnableAvif).
    assert response["headers"]["Content-Type"] == Image.MIME[image.format] == "image/avif"
    # CACHE_CONTROL is template.yaml's, from the CacheMaxAge default.
    assert response["headers"]["Cache-Control"] == "public, max-age=86400"


def test_head_event_answers_the_get_headers_without_a_body(wave: dict[str, Running]) -> None:
    head, get = wave["head_th.json"].result(), wave["th_fit.json"].result()
    assert head.payload["statusCode"] == 200, head.payload
    assert not head.payload.get("body")
    for header in ("Content-Type", "ETag", "Cache-Control"):
        assert head.payload["headers"][header] == get.payload["headers"][header], header
    quiet_teardown(head)


@pytest.mark.parametrize(("name", "status"), [("th_not_found.json", 404), ("th_bad_param.json", 400)])
def test_th_error_event_answers_a_named_error(wave: dict[str, Running], name: str, status: int) -> None:
    result = wave[name].result()
    assert result.payload["statusCode"] == status, result.payload
    error = json.loads(result.payload["body"])["error"]
    assert error["code"] and error["message"]
    if status == 400:
        assert "w" in error["message"]
    quiet_teardown(result)


@pytest.mark.parametrize(
    ("name", "size"),
    [("azure_analyze_binary.json", (451, 300)), ("azure_analyze_url.json", (600, 400))],  # chelsea; coffee from S3
)
def test_azure_event_answers_smart_crops(wave: dict[str, Running], name: str, size: tuple[int, int]) -> None:
    result = wave[name].result()
    assert result.payload["statusCode"] == 200, result.payload
    answer = json.loads(result.payload["body"])
    assert answer["metadata"] == {"width": size[0], "height": size[1]}
    values = answer["smartCropsResult"]["values"]
    assert [v["aspectRatio"] for v in values] == [0.9, 1.33]
    for value in values:
        box = value["boundingBox"]
        assert box["x"] >= 0 and box["y"] >= 0
        assert box["x"] + box["w"] <= size[0] and box["y"] + box["h"] <= size[1]
        assert abs(box["w"] / box["h"] - value["aspectRatio"]) < 0.02
    quiet_teardown(result)


def test_azure_bad_ratio_event_answers_azures_400(wave: dict[str, Running]) -> None:
    result = wave["azure_analyze_bad_ratio.json"].result()
    assert result.payload["statusCode"] == 400, result.payload
    assert result.payload["headers"]["x-ms-error-code"] == "InvalidRequest"
    assert json.loads(result.payload["body"])["error"]["innererror"]["code"] == "BadArgument"


def test_s3_put_writes_the_sidecar_c7_and_analysis_use_it_and_delete_removes_it(
    sam_local: SamLocal, tmp_path: Path, moto: MotoS3, env_params: dict[str, str]
) -> None:
    put = event("analyze_s3_put.json")
    key = put["Records"][0]["s3"]["object"]["key"]
    created = sam_local.invoke("AnalyzeFunction", EVENTS / "analyze_s3_put.json", tmp_path)
    assert created.payload.get("outcomes") == ["analysed"], created.payload
    quiet_teardown(created)
    doc = sidecar(moto, env_params, key)
    assert doc is not None and doc["status"] == "ok"
    head = moto.client().head_object(Bucket=env_params["SOURCE_BUCKET"], Key=key)
    assert doc["source"]["etag"].strip('"') == head["ETag"].strip('"')
    # SmartCropAspectRatios' default, through template.yaml's SMARTCROP_ASPECT_RATIOS.
    assert [v["aspectRatio"] for v in doc["azure"]["smartCropsResult"]["values"]] == [0.75, 1.0, 1.5, 1.78]
    assert doc["azure"]["metadata"] == {"width": 512, "height": 512}

    # Both read the sidecar: /th?id=astronaut.jpg&w=300&h=100&c=7 and /analysis?id=astronaut.jpg.
    crop = sam_local.start("ThumbnailFunction", EVENTS / "th_smart_crop.json", tmp_path)
    stored = sam_local.start("ThumbnailFunction", EVENTS / "analysis_get.json", tmp_path).result()
    cropped = crop.result()
    assert_thumbnail(cropped, (300, 100))
    assert cropped.payload["headers"]["X-Smartthumb-Region"] == "sidecar"
    assert stored.payload["statusCode"] == 200, stored.payload
    assert stored.payload["headers"]["X-Smartthumb-Analysis"] == "sidecar"
    answer = json.loads(stored.payload["body"])
    # The Azure answer as stored (Azure clients read it as is), plus the region and faces.
    assert {k: answer[k] for k in doc["azure"]} == doc["azure"]
    assert [f["score"] for f in answer["faces"]] == [f["score"] for f in doc["faces"]]

    delete = event("analyze_s3_delete.json")
    assert delete["Records"][0]["s3"]["object"]["key"] == key
    removed = sam_local.invoke("AnalyzeFunction", EVENTS / "analyze_s3_delete.json", tmp_path)
    assert removed.payload.get("outcomes") == ["deleted"], removed.payload
    assert sidecar(moto, env_params, key) is None


def test_s3_put_of_an_encoded_key_analyses_the_decoded_key(
    wave: dict[str, Running], moto: MotoS3, env_params: dict[str, str]
) -> None:
    result = wave["s3_put_encoded_key.json"].result()
    assert result.payload.get("outcomes") == ["analysed"], result.payload
    doc = sidecar(moto, env_params, env_params["SOURCE_PREFIX"] + ENCODED_KEY_SOURCE)
    assert doc is not None and doc["status"] == "ok"
    assert doc["source"]["etag"] == hashlib.md5((SAMPLES / "chelsea.jpg").read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["analyze_batch_v1.json", "analyze_batch_v2.json"])
def test_batch_event_answers_per_task(
    wave: dict[str, Running], moto: MotoS3, env_params: dict[str, str], name: str
) -> None:
    batch: dict[str, Any] = event(name)
    result = wave[name].result()
    answer = result.payload
    assert answer.get("invocationSchemaVersion") == batch["invocationSchemaVersion"], answer
    assert answer["invocationId"] == batch["invocationId"]
    assert [(r["taskId"], r["resultCode"]) for r in answer["results"]] == [
        (t["taskId"], "Succeeded") for t in batch["tasks"]
    ]
    for task in batch["tasks"]:
        doc = sidecar(moto, env_params, task["s3Key"])
        assert doc is not None and doc["status"] == "ok" and doc["trigger"] == "BatchOperations"
    quiet_teardown(result)

"""AnalyzeFunction end to end with moto: S3 events and Batch Operations tasks in,
sidecars out. A small fake analyzer stands in for the models except in the
tests marked ``model``, which run the real ONNX analysis."""

from __future__ import annotations

import copy
import hashlib
import json
from urllib.parse import quote_plus

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from smartthumb.config import ConfigError
from smartthumb.errors import SourceUnavailable
from smartthumb.geometry import Box, Size
from tests.conftest import EVENTS, SAMPLES, image_bytes
from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_ingest_analyzer

SOURCE = "smartthumb-source"
ANALYSIS = "smartthumb-analysis"
PREFIX = "img/"
APREFIX = "analysis/"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def put_event(key: str, etag: str | None, size: int | None, sequencer: str, name: str = "ObjectCreated:Put") -> dict:
    """An event shaped like infra/events/analyze_s3_put.json, with the key URL-encoded as S3 does."""
    event = copy.deepcopy(json.loads((EVENTS / "analyze_s3_put.json").read_text()))
    obj = {"key": quote_plus(key, safe="/"), "sequencer": sequencer}
    if etag is not None:
        obj["eTag"] = etag
    if size is not None:
        obj["size"] = size
    event["Records"][0]["eventName"] = name
    event["Records"][0]["s3"]["object"] = obj
    return event


def delete_event(key: str, sequencer: str) -> dict:
    return put_event(key, None, None, sequencer, name="ObjectRemoved:Delete")


@pytest.fixture
def env(s3, monkeypatch, no_model_preload):
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=ANALYSIS)
    monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
    monkeypatch.setenv("SOURCE_PREFIX", PREFIX)
    monkeypatch.setenv("ANALYSIS_BUCKET", ANALYSIS)
    monkeypatch.setenv("ANALYSIS_PREFIX", APREFIX)
    monkeypatch.setenv("MAX_SOURCE_BYTES", "200000")
    monkeypatch.setenv("SMARTCROP_ASPECT_RATIOS", "0.75,1.0,1.5")
    return s3


@pytest.fixture
def analyze_fn(env, function_loader, no_model_preload):
    fn = function_loader("analyze")
    assert no_model_preload == [True]  # init loads and warms both sessions (not here: a fake analyses)
    fn.fake = FakeAnalyzer()
    with_ingest_analyzer(fn, fn.fake)
    return fn


def upload(s3, key: str, data: bytes) -> str:
    return s3.put_object(Bucket=SOURCE, Key=key, Body=data)["ETag"].strip('"')


def sidecar(s3, key: str) -> dict | None:
    try:
        body = s3.get_object(Bucket=ANALYSIS, Key=f"{APREFIX}{key}.json")["Body"].read()
    except ClientError:
        return None
    return json.loads(body)


def sidecar_bytes(s3, key: str) -> bytes:
    return s3.get_object(Bucket=ANALYSIS, Key=f"{APREFIX}{key}.json")["Body"].read()


def test_put_event_file_writes_the_sidecar(analyze_fn, env, lambda_context):
    data = (SAMPLES / "astronaut.jpg").read_bytes()
    upload(env, "img/astronaut.jpg", data)
    event = json.loads((EVENTS / "analyze_s3_put.json").read_text())
    assert event["Records"][0]["s3"]["object"]["eTag"] == md5(data)  # the event file matches the sample

    result = analyze_fn.handler(event, lambda_context)

    assert result["outcomes"] == ["analysed"]
    doc = sidecar(env, "img/astronaut.jpg")
    assert doc is not None
    assert doc["schemaVersion"] == 1 and doc["status"] == "ok" and doc["error"] is None
    assert doc["source"] == {
        "bucket": SOURCE,
        "key": "img/astronaut.jpg",
        "etag": md5(data),
        "size": len(data),
        "versionId": None,
    }
    assert doc["sequencer"] == "0062A1B2C3D4E5F601"
    assert doc["trigger"] == "ObjectCreated:Put"
    assert doc["analyzerVersion"].startswith("smartthumb ")
    assert doc["modelVersion"] == "fake-1"
    assert doc["ratios"] == [0.75, 1.0, 1.5]
    azure = doc["azure"]
    assert azure["modelVersion"] == "fake-1"
    assert azure["metadata"] == {"width": 512, "height": 512}
    values = azure["smartCropsResult"]["values"]
    assert [v["aspectRatio"] for v in values] == [0.75, 1.0, 1.5]
    for v in values:
        box = Box(**v["boundingBox"])
        assert box.inside(Size(512, 512))
        assert abs(box.w / box.h - v["aspectRatio"]) < 0.01
    assert len(doc["azureAutomatic"]["smartCropsResult"]["values"]) == 1
    assert doc["roi"] == {"x": 128, "y": 128, "w": 256, "h": 256}
    assert doc["faces"] == []
    assert analyze_fn.fake.calls == [[0.75, 1.0, 1.5]]  # one pass: the automatic crop is derived


def test_duplicate_event_gives_the_same_sidecar(analyze_fn, env, lambda_context):
    data = image_bytes(Image.new("RGB", (300, 200), "navy"))
    etag = upload(env, "img/dup.jpg", data)
    event = put_event("img/dup.jpg", etag, len(data), "0062A1B2C3D4E5F601")
    analyze_fn.handler(event, lambda_context)
    first = sidecar_bytes(env, "img/dup.jpg")
    calls = len(analyze_fn.fake.calls)

    result = analyze_fn.handler(copy.deepcopy(event), lambda_context)

    assert result["outcomes"] == ["duplicate"]
    assert sidecar_bytes(env, "img/dup.jpg") == first
    assert len(analyze_fn.fake.calls) == calls  # not analysed again


def test_older_event_does_not_overwrite_a_newer_one(analyze_fn, env, lambda_context):
    v1 = image_bytes(Image.new("RGB", (300, 200), "red"))
    v2 = image_bytes(Image.new("RGB", (200, 300), "blue"))
    e1 = md5(v1)
    e2 = upload(env, "img/race.jpg", v2)  # v1 was uploaded first, v2 replaced it
    # Delivered out of order: the newer event first. Sequencers of different
    # lengths compare after padding: "0062A1B2C3D4E5F7" (padded ...F700) is newer
    # than "0062A1B2C3D4E5F601".
    newer = put_event("img/race.jpg", e2, len(v2), "0062A1B2C3D4E5F7")
    older = put_event("img/race.jpg", e1, len(v1), "0062A1B2C3D4E5F601")
    assert analyze_fn.handler(newer, lambda_context)["outcomes"] == ["analysed"]
    written = sidecar_bytes(env, "img/race.jpg")

    assert analyze_fn.handler(older, lambda_context)["outcomes"] == ["stale"]

    assert sidecar_bytes(env, "img/race.jpg") == written
    doc = json.loads(written)
    assert doc["source"]["etag"] == e2 and doc["azure"]["metadata"] == {"width": 200, "height": 300}


def test_late_event_for_an_overwritten_version_is_superseded(analyze_fn, env, lambda_context):
    """No sidecar yet, but the object changed since the event: the old event does
    not analyse the new bytes under its own (older) sequencer."""
    v1 = image_bytes(Image.new("RGB", (300, 200), "red"))
    upload(env, "img/late.jpg", image_bytes(Image.new("RGB", (100, 100), "green")))
    result = analyze_fn.handler(put_event("img/late.jpg", md5(v1), len(v1), "0062A1B2C3D4E5F601"), lambda_context)
    assert result["outcomes"] == ["superseded"]
    assert sidecar(env, "img/late.jpg") is None
    assert analyze_fn.fake.calls == []


def test_delete_removes_the_sidecar_and_an_older_delete_does_not(analyze_fn, env, lambda_context):
    data = image_bytes(Image.new("RGB", (300, 200), "olive"))
    etag = upload(env, "img/gone.jpg", data)
    analyze_fn.handler(put_event("img/gone.jpg", etag, len(data), "0062A1B2C3D4E5F650"), lambda_context)
    assert sidecar(env, "img/gone.jpg") is not None

    # A delete that happened *before* the upload, delivered late: kept.
    early = analyze_fn.handler(delete_event("img/gone.jpg", "0062A1B2C3D4E5F600"), lambda_context)
    assert early["outcomes"] == ["stale"]
    assert sidecar(env, "img/gone.jpg") is not None

    env.delete_object(Bucket=SOURCE, Key="img/gone.jpg")
    event = json.loads((EVENTS / "analyze_s3_delete.json").read_text())
    event["Records"][0]["s3"]["object"]["key"] = "img/gone.jpg"
    assert analyze_fn.handler(event, lambda_context)["outcomes"] == ["deleted"]
    assert sidecar(env, "img/gone.jpg") is None
    # Delivered again: nothing left to do, no error.
    assert analyze_fn.handler(event, lambda_context)["outcomes"] == ["duplicate"]
    # The upload's event delivered again after the delete: the object is gone, nothing is written.
    again = analyze_fn.handler(put_event("img/gone.jpg", etag, len(data), "0062A1B2C3D4E5F650"), lambda_context)
    assert again["outcomes"] == ["superseded"]
    assert sidecar(env, "img/gone.jpg") is None


@pytest.mark.parametrize(
    "key",
    [
        "img/my photo.jpg",
        "img/a+b.jpg",
        "img/été/ünïcødé 写真.jpg",
        "img/100% real.jpg",
        "img/%41%20literal.jpg",
        "img/mixed +%2B+ stuff.jpg",
    ],
)
def test_url_encoded_keys_are_decoded(analyze_fn, env, lambda_context, key):
    data = image_bytes(Image.new("RGB", (120, 80), "teal"))
    etag = upload(env, key, data)
    event = put_event(key, etag, len(data), "0062A1B2C3D4E5F601")
    assert "%" in event["Records"][0]["s3"]["object"]["key"] or "+" in event["Records"][0]["s3"]["object"]["key"]

    assert analyze_fn.handler(event, lambda_context)["outcomes"] == ["analysed"]

    doc = sidecar(env, key)
    assert doc is not None and doc["source"]["key"] == key
    assert analyze_fn.handler(delete_event(key, "0062A1B2C3D4E5F7"), lambda_context)["outcomes"] == ["deleted"]
    assert sidecar(env, key) is None


def test_encoded_key_event_file(analyze_fn, env, lambda_context):
    data = (SAMPLES / "chelsea.jpg").read_bytes()
    upload(env, "img/my photo été 100% a+b.jpg", data)
    event = json.loads((EVENTS / "s3_put_encoded_key.json").read_text())
    assert analyze_fn.handler(event, lambda_context)["outcomes"] == ["analysed"]
    assert sidecar(env, "img/my photo été 100% a+b.jpg")["source"]["etag"] == md5(data)


def test_why_keys_are_decoded_here():
    """Powertools decodes only ``S3Event.object_key`` (the first record); a record's
    ``s3.get_object.key`` is the raw, URL-encoded key. ``parse_s3_record`` decodes every record."""
    from aws_lambda_powertools.utilities.data_classes import S3Event

    from smartthumb.ingest import parse_s3_record

    raw = json.loads((EVENTS / "s3_put_encoded_key.json").read_text())
    event = S3Event(raw)
    record = next(iter(event.records))
    assert record.s3.get_object.key == "img/my+photo+%C3%A9t%C3%A9+100%25+a%2Bb.jpg"
    assert event.object_key == "img/my photo été 100% a+b.jpg"
    assert parse_s3_record(record.raw_event).key == "img/my photo été 100% a+b.jpg"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ObjectCreated:Put", "created"),
        ("ObjectCreated:CompleteMultipartUpload", "created"),
        ("ObjectCreated:Copy", "created"),
        ("ObjectRemoved:Delete", "removed"),
        ("ObjectRemoved:DeleteMarkerCreated", "removed"),
        ("LifecycleExpiration:Delete", "removed"),
        ("ObjectRestore:Completed", "other"),
        ("ObjectTagging:Put", "other"),
    ],
)
def test_event_kinds(name, kind):
    from smartthumb.ingest import parse_s3_record

    record = put_event("img/a.jpg", "abc", 3, "01", name=name)["Records"][0]
    assert parse_s3_record(record).kind == kind


def test_text_file_named_jpg_is_a_recorded_permanent_failure(analyze_fn, env, lambda_context, capsys):
    data = b"this is not a JPEG, just text\n" * 20
    etag = upload(env, "img/notes.jpg", data)

    result = analyze_fn.handler(put_event("img/notes.jpg", etag, len(data), "0062A1B2C3D4E5F601"), lambda_context)

    assert result["outcomes"] == ["failed-permanently"]  # returned, not raised: no retry
    doc = sidecar(env, "img/notes.jpg")
    assert doc["status"] == "error"
    assert doc["error"]["code"] == "UnsupportedImage" and doc["error"]["status"] == 415
    assert doc["azure"] is None and doc["roi"] is None
    assert doc["source"]["etag"] == etag
    out = capsys.readouterr().out
    assert '"PermanentFailure"' in out  # the EMF metric Powertools flushed


def test_oversized_upload_is_a_permanent_failure_without_download(analyze_fn, env, lambda_context, monkeypatch):
    data = b"\xff\xd8" + b"\0" * 250_000
    etag = upload(env, "img/huge.jpg", data)
    fetched = []
    monkeypatch.setattr(analyze_fn.ingestor.reader, "fetch", lambda *a, **k: fetched.append(a))
    result = analyze_fn.handler(put_event("img/huge.jpg", etag, len(data), "0062A1B2C3D4E5F601"), lambda_context)
    assert result["outcomes"] == ["failed-permanently"]
    assert fetched == []
    doc = sidecar(env, "img/huge.jpg")
    assert doc["error"]["code"] == "SourceTooLarge" and doc["source"]["size"] == len(data)


class ThrottlingClient:
    """Wraps the S3 client; GetObject answers SlowDown (503) as throttled S3 does."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def get_object(self, **kwargs):
        if kwargs.get("Bucket") == SOURCE:
            raise ClientError(
                {
                    "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                    "ResponseMetadata": {"HTTPStatusCode": 503},
                },
                "GetObject",
            )
        return self.inner.get_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class NoListBucketClient:
    """S3 as seen without s3:ListBucket: a missing key is 403 AccessDenied, not 404."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def get_object(self, **kwargs):
        try:
            return self.inner.get_object(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchKey":
                raise
            raise ClientError(
                {
                    "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                "GetObject",
            ) from exc

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_first_upload_works_without_list_bucket_permission(analyze_fn, env, lambda_context):
    analyze_fn.ingestor.store._client = NoListBucketClient(env)
    data = image_bytes(Image.new("RGB", (120, 80), "teal"))
    etag = upload(env, "img/first.jpg", data)
    event = put_event("img/first.jpg", etag, len(data), "0062A1B2C3D4E5F601")
    assert analyze_fn.handler(event, lambda_context)["outcomes"] == ["analysed"]
    assert analyze_fn.handler(event, lambda_context)["outcomes"] == ["duplicate"]


def test_throttling_raises_for_lambda_to_retry(analyze_fn, env, lambda_context):
    data = image_bytes(Image.new("RGB", (120, 80), "teal"))
    etag = upload(env, "img/throttled.jpg", data)
    analyze_fn.ingestor.reader._client = ThrottlingClient(env)
    with pytest.raises(SourceUnavailable) as raised:
        analyze_fn.handler(put_event("img/throttled.jpg", etag, len(data), "0062A1B2C3D4E5F601"), lambda_context)
    assert "ObjectCreated:Put 'img/throttled.jpg'" in raised.value.message  # the reason the DLQ keeps
    assert sidecar(env, "img/throttled.jpg") is None
    # The retry, once S3 recovers, does the work.
    analyze_fn.ingestor.reader._client = env
    assert analyze_fn.handler(put_event("img/throttled.jpg", etag, len(data), "0062A1B2C3D4E5F601"), lambda_context)[
        "outcomes"
    ] == ["analysed"]


def test_own_output_and_foreign_keys_are_ignored(analyze_fn, env, lambda_context):
    sidecar_event = put_event("analysis/img/x.jpg.json", "abc", 10, "01")
    sidecar_event["Records"][0]["s3"]["bucket"]["name"] = ANALYSIS
    outside = put_event("other/x.jpg", "abc", 10, "01")
    assert analyze_fn.handler(sidecar_event, lambda_context)["outcomes"] == ["ignored"]
    assert analyze_fn.handler(outside, lambda_context)["outcomes"] == ["ignored"]
    assert analyze_fn.fake.calls == []
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": SOURCE}
    assert analyze_fn.handler(test_event, lambda_context) == {"records": 0, "outcomes": []}


@pytest.mark.parametrize(("source_prefix", "analysis_prefix"), [("", "analysis/"), ("img/", "img/analysis/")])
def test_a_looping_configuration_is_refused_at_start(env, monkeypatch, function_loader, source_prefix, analysis_prefix):
    monkeypatch.setenv("ANALYSIS_BUCKET", SOURCE)
    monkeypatch.setenv("SOURCE_PREFIX", source_prefix)
    monkeypatch.setenv("ANALYSIS_PREFIX", analysis_prefix)
    with pytest.raises(ConfigError):
        function_loader("analyze")


def test_same_bucket_with_disjoint_prefixes_is_allowed_and_skips_its_output(
    env, monkeypatch, function_loader, lambda_context
):
    monkeypatch.setenv("ANALYSIS_BUCKET", SOURCE)
    monkeypatch.setenv("ANALYSIS_PREFIX", "analysis/")
    fn = function_loader("analyze")
    with_ingest_analyzer(fn, FakeAnalyzer())
    data = image_bytes(Image.new("RGB", (120, 80), "teal"))
    etag = upload(env, "img/same.jpg", data)
    assert fn.handler(put_event("img/same.jpg", etag, len(data), "01"), lambda_context)["outcomes"] == ["analysed"]
    written = env.get_object(Bucket=SOURCE, Key="analysis/img/same.jpg.json")
    own = put_event("analysis/img/same.jpg.json", written["ETag"].strip('"'), 100, "02")
    assert fn.handler(own, lambda_context)["outcomes"] == ["ignored"]


def test_missing_analysis_bucket_is_refused_at_start(env, monkeypatch, function_loader):
    monkeypatch.setenv("ANALYSIS_BUCKET", "")
    with pytest.raises(ConfigError):
        function_loader("analyze")


# ------------------------------------------------------------ batch operations


def batch_event(schema: str, keys: list[str]) -> dict:
    event = json.loads((EVENTS / f"analyze_batch_v{schema[0]}.json").read_text())
    template = event["tasks"][0]
    event["tasks"] = []
    for i, key in enumerate(keys):
        task = dict(template, taskId=f"task-{i}", s3Key=quote_plus(key, safe="/"))
        event["tasks"].append(task)
    return event


@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_batch_with_good_missing_and_broken_keys(analyze_fn, env, lambda_context, schema):
    upload(env, "img/good photo.jpg", image_bytes(Image.new("RGB", (300, 200), "maroon")))
    upload(env, "img/broken.jpg", b"GIF89a but not really")
    event = batch_event(schema, ["img/good photo.jpg", "img/missing.jpg", "img/broken.jpg"])

    response = analyze_fn.handler(event, lambda_context)

    assert response["invocationSchemaVersion"] == schema
    assert response["invocationId"] == event["invocationId"]
    assert response["treatMissingKeysAs"] == "PermanentFailure"
    by_task = {r["taskId"]: r for r in response["results"]}
    assert set(by_task) == {"task-0", "task-1", "task-2"}
    assert by_task["task-0"]["resultCode"] == "Succeeded"
    assert (
        by_task["task-1"]["resultCode"] == "PermanentFailure" and "no such object" in by_task["task-1"]["resultString"]
    )
    assert by_task["task-2"]["resultCode"] == "PermanentFailure"
    assert by_task["task-2"]["resultString"].startswith("UnsupportedImage")
    assert sidecar(env, "img/good photo.jpg")["trigger"] == "BatchOperations"
    assert sidecar(env, "img/broken.jpg")["status"] == "error"
    assert sidecar(env, "img/missing.jpg") is None

    # Run again (Batch Operations retries, or a second backfill): nothing re-analysed.
    calls = len(analyze_fn.fake.calls)
    again = analyze_fn.handler(event, lambda_context)
    assert again["results"][0] == {"taskId": "task-0", "resultCode": "Succeeded", "resultString": "up-to-date"}
    assert again["results"][2]["resultCode"] == "PermanentFailure"  # still broken, from its record
    assert len(analyze_fn.fake.calls) == calls


def test_batch_oversized_object_is_recorded_with_its_version(analyze_fn, env, lambda_context):
    data = b"\xff\xd8" + b"\0" * 250_000
    etag = upload(env, "img/big.jpg", data)
    first = analyze_fn.handler(batch_event("2.0", ["img/big.jpg"]), lambda_context)
    assert first["results"][0]["resultCode"] == "PermanentFailure"
    assert first["results"][0]["resultString"].startswith("SourceTooLarge")
    doc = sidecar(env, "img/big.jpg")
    assert doc["error"]["code"] == "SourceTooLarge"
    assert doc["source"]["etag"] == etag and doc["source"]["size"] == len(data)
    # A rerun reports the same permanent failure (not "Succeeded") and leaves the record as is.
    again = analyze_fn.handler(batch_event("2.0", ["img/big.jpg"]), lambda_context)
    assert again["results"][0]["resultCode"] == "PermanentFailure"
    assert sidecar(env, "img/big.jpg") == doc


def test_batch_event_files(analyze_fn, env, lambda_context):
    upload(env, "img/coffee.jpg", (SAMPLES / "coffee.jpg").read_bytes())
    upload(env, "img/rocket.jpg", (SAMPLES / "rocket.jpg").read_bytes())
    for name, key in (("analyze_batch_v1.json", "img/coffee.jpg"), ("analyze_batch_v2.json", "img/rocket.jpg")):
        response = analyze_fn.handler(json.loads((EVENTS / name).read_text()), lambda_context)
        assert [r["resultCode"] for r in response["results"]] == ["Succeeded"], response
        assert sidecar(env, key)["status"] == "ok"


def test_batch_transient_failure_is_a_temporary_failure(analyze_fn, env, lambda_context):
    upload(env, "img/t.jpg", image_bytes(Image.new("RGB", (30, 20), "teal")))
    analyze_fn.ingestor.reader._client = ThrottlingClient(env)
    response = analyze_fn.handler(batch_event("2.0", ["img/t.jpg"]), lambda_context)
    assert response["results"][0]["resultCode"] == "TemporaryFailure"
    assert "SourceUnavailable" in response["results"][0]["resultString"]


def test_backfill_does_not_overwrite_a_newer_event_sidecar(analyze_fn, env, lambda_context):
    """A sidecar written from an event keeps its sequencer when a backfill refreshes it."""
    data = image_bytes(Image.new("RGB", (300, 200), "gray"))
    etag = upload(env, "img/keep.jpg", data)
    analyze_fn.handler(put_event("img/keep.jpg", etag, len(data), "0062A1B2C3D4E5F650"), lambda_context)
    response = analyze_fn.handler(batch_event("2.0", ["img/keep.jpg"]), lambda_context)
    assert response["results"][0]["resultString"] == "up-to-date"
    assert sidecar(env, "img/keep.jpg")["sequencer"] == "0062A1B2C3D4E5F650"


def test_backfill_repairs_a_stale_event_sidecar_only_for_the_current_object(analyze_fn, env, lambda_context):
    """The event of the newest upload was lost (in the DLQ): a backfill replaces the
    older event's sidecar, keeping its sequencer so older events stay stale."""
    v1 = image_bytes(Image.new("RGB", (300, 200), "red"))
    e1 = upload(env, "img/lost.jpg", v1)
    analyze_fn.handler(put_event("img/lost.jpg", e1, len(v1), "0062A1B2C3D4E5F650"), lambda_context)
    v2 = image_bytes(Image.new("RGB", (200, 300), "blue"))
    e2 = upload(env, "img/lost.jpg", v2)  # its event never arrives

    response = analyze_fn.handler(batch_event("2.0", ["img/lost.jpg"]), lambda_context)

    assert response["results"][0]["resultCode"] == "Succeeded"
    doc = sidecar(env, "img/lost.jpg")
    assert doc["source"]["etag"] == e2 and doc["sequencer"] == "0062A1B2C3D4E5F650"
    late_old = analyze_fn.handler(put_event("img/lost.jpg", e1, len(v1), "0062A1B2C3D4E5F640"), lambda_context)
    assert late_old["outcomes"] == ["stale"]


def test_backfill_yields_when_the_object_changed_meanwhile(analyze_fn, env, lambda_context, monkeypatch):
    v1 = image_bytes(Image.new("RGB", (300, 200), "red"))
    e1 = upload(env, "img/moving.jpg", v1)
    analyze_fn.handler(put_event("img/moving.jpg", e1, len(v1), "0062A1B2C3D4E5F650"), lambda_context)
    upload(env, "img/moving.jpg", image_bytes(Image.new("RGB", (200, 300), "blue")))
    # Between the backfill's read and its write, the object changes again.
    monkeypatch.setattr(analyze_fn.ingestor.reader, "current_check", lambda *a: lambda: False)
    response = analyze_fn.handler(batch_event("2.0", ["img/moving.jpg"]), lambda_context)
    assert response["results"][0] == {"taskId": "task-0", "resultCode": "Succeeded", "resultString": "yielded"}
    assert sidecar(env, "img/moving.jpg")["source"]["etag"] == e1


# ----------------------------------------------------------------- real model


@pytest.mark.model
@pytest.mark.slow
def test_real_analysis_on_upload(env, function_loader, lambda_context):
    fn = function_loader("analyze")  # the real analyzer: no fake injected
    data = (SAMPLES / "astronaut.jpg").read_bytes()
    upload(env, "img/astronaut.jpg", data)
    result = fn.handler(json.loads((EVENTS / "analyze_s3_put.json").read_text()), lambda_context)
    assert result["outcomes"] == ["analysed"]
    doc = sidecar(env, "img/astronaut.jpg")
    assert doc["modelVersion"].startswith("smartthumb-yunet")
    assert len(doc["faces"]) >= 1
    face = doc["faces"][0]["box"]
    roi = Box(**doc["roi"])
    assert roi.contains(Box(*face))
    size = Size(512, 512)
    for v in doc["azure"]["smartCropsResult"]["values"]:
        box = Box(**v["boundingBox"])
        assert box.inside(size) and box.contains(Box(*face))
    auto = doc["azureAutomatic"]["smartCropsResult"]["values"]
    assert len(auto) == 1 and 0.5 <= auto[0]["aspectRatio"] <= 2.0


@pytest.mark.parametrize("raw", ["ZZZZ", "0055AED6DCD90281E5-", "g" * 5, "A" * 65, True, 3.5, {"x": 1}, [], " "])
def test_a_sequencer_s3_never_sends_is_not_kept(raw) -> None:
    """Non-hex or over-long: dropped, so it cannot be stored and outrank every real sequencer later."""
    from smartthumb.ingest import parse_s3_record

    record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "a.jpg"}}}
    record["s3"]["object"]["sequencer"] = raw
    assert parse_s3_record(record).sequencer is None
    record["s3"]["object"]["sequencer"] = "0055AED6DCD90281E5"
    assert parse_s3_record(record).sequencer == "0055AED6DCD90281E5"

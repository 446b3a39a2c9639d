"""S3 read errors through the AnalyzeFunction (moto, errors injected at GetObject) and
through /th: each ends as a sidecar, an error record or a raised exception -- never silence."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from smartthumb import ingest
from smartthumb.aws import S3Fault, classify
from smartthumb.errors import SourceUnavailable
from tests.conftest import image_bytes
from tests.handlers import test_analyze_handler as handler_tests
from tests.handlers.test_analyze_handler import put_event, sidecar, upload
from tests.hardening.conftest import PREFIX as TH_PREFIX
from tests.hardening.conftest import error_of

# The AnalyzeFunction over moto with a fake analyzer, as the handler tests build it.
env = handler_tests.env
analyze_fn = handler_tests.analyze_fn


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject"
    )


@pytest.mark.parametrize(
    ("code", "status", "fault"),
    [
        ("NoSuchKey", 404, S3Fault.MISSING),
        ("PreconditionFailed", 412, S3Fault.SUPERSEDED),
        ("AccessDenied", 403, S3Fault.DENIED),
        ("NoSuchBucket", 404, S3Fault.NO_BUCKET),
        ("InvalidObjectState", 403, S3Fault.PERMANENT),
        ("SlowDown", 503, S3Fault.TRANSIENT),
        ("KMS.ThrottlingException", 400, S3Fault.TRANSIENT),
        ("RequestLimitExceeded", 400, S3Fault.TRANSIENT),
        ("SomethingNew", 429, S3Fault.TRANSIENT),
    ],
)
def test_classify(code: str, status: int, fault: S3Fault) -> None:
    assert classify(_client_error(code, status)) is fault


@pytest.fixture
def failing_get(monkeypatch):
    """``failing_get(code, status)``: the AnalyzeFunction's GetObject fails so."""

    def install(code: str, status: int) -> None:
        original = ingest.read_s3_object

        def read(client, bucket, key, max_bytes, etag=None):
            client.get_object = lambda **kw: (_ for _ in ()).throw(_client_error(code, status))
            return original(client, bucket, key, max_bytes, etag)

        monkeypatch.setattr(ingest, "read_s3_object", read)

    return install


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), ("InvalidObjectState", 403)])
def test_unreadable_objects_get_an_error_sidecar_a_metric_and_an_error_log(
    analyze_fn, env, lambda_context, failing_get, caplog, capsys, code: str, status: int
) -> None:
    etag = upload(env, "img/locked.jpg", image_bytes(Image.new("RGB", (40, 30))))
    failing_get(code, status)
    with caplog.at_level(logging.ERROR):
        result = analyze_fn.handler(put_event("img/locked.jpg", etag, 100, "0001"), lambda_context)
    assert result["outcomes"] == ["failed-permanently"], result
    doc = sidecar(env, "img/locked.jpg")
    assert doc is not None and doc["status"] == "error"
    assert doc["error"]["code"] == "SourceUnreadable"
    assert any(r.levelno == logging.ERROR and "locked.jpg" in r.getMessage() for r in caplog.records)
    assert '"SourceUnreadable"' in capsys.readouterr().out  # the EMF metric


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("KMS.ThrottlingException", 400), ("Busy", 429)])
def test_throttling_is_raised_for_a_retry(analyze_fn, env, lambda_context, failing_get, code: str, status: int) -> None:
    etag = upload(env, "img/busy.jpg", image_bytes(Image.new("RGB", (40, 30))))
    failing_get(code, status)
    with pytest.raises(SourceUnavailable):
        analyze_fn.handler(put_event("img/busy.jpg", etag, 100, "0001"), lambda_context)
    assert sidecar(env, "img/busy.jpg") is None  # nothing recorded: the retry (or the DLQ) decides


def test_a_missing_object_is_superseded(analyze_fn, env, lambda_context) -> None:
    result = analyze_fn.handler(put_event("img/gone.jpg", "0" * 32, 100, "0001"), lambda_context)
    assert result["outcomes"] == ["superseded"]


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), ("NoSuchBucket", 404)])
def test_th_answers_a_misconfigured_store_with_503(make_fn, monkeypatch, caplog, code: str, status: int) -> None:
    fn = make_fn()
    from smartthumb import sources

    original = sources.read_s3_object

    def read(client, bucket, key, max_bytes, etag=None):
        client.get_object = lambda **kw: (_ for _ in ()).throw(_client_error(code, status))
        return original(client, bucket, key, max_bytes, etag)

    monkeypatch.setattr(sources, "read_s3_object", read)
    with caplog.at_level(logging.ERROR):
        result = fn.get("/th?id=photo.jpg&w=50")
    assert result["statusCode"] == 503
    assert error_of(result)["code"] == "SourceMisconfigured"
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert TH_PREFIX not in result["body"]


def test_th_missing_is_still_404(make_fn) -> None:
    assert make_fn().get("/th?id=nothing.jpg&w=50")["statusCode"] == 404


def test_one_failing_record_does_not_stop_the_others(analyze_fn, env, lambda_context, monkeypatch) -> None:
    good = upload(env, "img/good.jpg", image_bytes(Image.new("RGB", (40, 30))))
    bad = upload(env, "img/bad.jpg", image_bytes(Image.new("RGB", (40, 30))))
    event = put_event("img/bad.jpg", bad, 100, "0001")
    event["Records"].append(put_event("img/good.jpg", good, 100, "0002")["Records"][0])
    original = ingest.Ingestor.handle_event

    def flaky(self, ev):
        if ev.key.endswith("bad.jpg"):
            raise KeyError("a bug on this record")
        return original(self, ev)

    monkeypatch.setattr(ingest.Ingestor, "handle_event", flaky)
    with pytest.raises(SourceUnavailable) as caught:
        analyze_fn.handler(event, lambda_context)
    assert "1 record(s) failed" in caught.value.message and "bad.jpg" in caught.value.message
    assert sidecar(env, "img/good.jpg") is not None  # the other record was analysed


def test_a_deeply_nested_json_body_is_400(make_fn) -> None:
    from smartthumb.local_server import http_api_event

    fn = make_fn()
    body = b"[" * 100_000 + b"]" * 100_000
    path = "/computervision/imageanalysis:analyze?api-version=2023-10-01&features=smartCrops"
    result = fn.call(http_api_event("POST", path, {"content-type": "application/json"}, body))
    assert result["statusCode"] == 400


def test_a_delete_during_the_analysis_wins(env, function_loader, no_model_preload, lambda_context) -> None:
    """The delete event runs while the create's analysis is in progress: no sidecar stays behind."""
    from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_ingest_analyzer

    fn = function_loader("analyze")
    fake = FakeAnalyzer()
    key = "img/short-lived.jpg"
    etag = upload(env, key, image_bytes(Image.new("RGB", (40, 30))))

    def analyze_while_deleted(*args, **kwargs):
        env.delete_object(Bucket=handler_tests.SOURCE, Key=key)
        deleted = fn.ingestor.handle_records(handler_tests.delete_event(key, "0002")["Records"])
        assert [r.outcome.value for r in deleted] == ["duplicate"]  # nothing to delete yet
        return fake(*args, **kwargs)

    with_ingest_analyzer(fn, analyze_while_deleted)
    result = fn.handler(put_event(key, etag, 100, "0001"), lambda_context)
    assert result["outcomes"] == ["superseded"], result
    assert sidecar(env, key) is None


def test_a_delete_during_an_on_demand_c7_wins(s3, monkeypatch, function_loader, lambda_context) -> None:
    """The c=7 write-back re-checks the source after writing: deleted meanwhile, the sidecar goes again."""
    from smartthumb.local_server import http_api_event
    from tests.handlers import test_sidecar_c7 as c7_tests
    from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_analyzer

    s3.create_bucket(Bucket=c7_tests.SOURCE)
    s3.create_bucket(Bucket=c7_tests.ANALYSIS)
    s3.put_object(Bucket=c7_tests.SOURCE, Key="block.png", Body=c7_tests.block_image())
    monkeypatch.setenv("SOURCE_BUCKET", c7_tests.SOURCE)
    monkeypatch.setenv("ANALYSIS_BUCKET", c7_tests.ANALYSIS)
    fake = FakeAnalyzer(roi=(0.8, 0.3, 0.13, 0.4))

    def analyze_while_deleted(*args, **kwargs):
        s3.delete_object(Bucket=c7_tests.SOURCE, Key="block.png")
        return fake(*args, **kwargs)

    fn = with_analyzer(function_loader("thumbnail"), analyze_while_deleted)
    result = fn.handler(http_api_event("GET", "/th?id=block.png&w=100&h=200&c=7", {}), lambda_context)
    assert result["statusCode"] == 200  # this answer was already being made
    assert fn.cache.wait_idle(10)  # the write-back (and its re-check) finished
    listing = s3.list_objects_v2(Bucket=c7_tests.ANALYSIS).get("Contents", [])
    assert listing == [], listing

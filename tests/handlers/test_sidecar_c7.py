"""Sidecars: ordering rules, the document, the stores, and ``/th ... c=7`` served
from a sidecar (no model), from an on-the-fly analysis, or by blind-ratio fallback."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import textwrap
import threading

import pytest
from PIL import Image

from smartthumb import sidecars as sidecars_module
from smartthumb.errors import UnsupportedImage
from smartthumb.geometry import Box
from smartthumb.local_server import http_api_event
from smartthumb.sidecars import (
    ConditionFailed,
    Decision,
    LocalSidecarStore,
    S3SidecarStore,
    Sidecar,
    compare_sequencers,
    decide_delete,
    decide_write,
    sidecar_key,
)
from tests.conftest import REPO, image_bytes
from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_analyzer

SOURCE = "smartthumb-source"
ANALYSIS = "smartthumb-analysis"
V = sidecars_module.ANALYZER_VERSION

# ------------------------------------------------------------------ ordering


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("0055AED6DCD90281E5", "0055AED6DCD90281E5", 0),
        ("0055AED6DCD90281E5", "0055AED6DCD90281E6", -1),
        ("0055aed6dcd90281e6", "0055AED6DCD90281E5", 1),  # hex: case does not matter
        ("0055AED6DCD9028200", "0055AED6DCD90282", 0),  # padded with zeros to equal length
        ("0055AED6DCD90283", "0055AED6DCD90282FF", 1),
        ("0055AED6DCD90282", "0055AED6DCD9028201", -1),
    ],
)
def test_compare_sequencers(a, b, expected):
    assert compare_sequencers(a, b) == expected
    assert compare_sequencers(b, a) == -expected


def sc(etag="e1", sequencer=None, version=V, status="ok") -> Sidecar:
    return Sidecar(
        bucket=SOURCE, key="img/a.jpg", etag=etag, size=1, sequencer=sequencer, analyzer_version=version, status=status
    )


@pytest.mark.parametrize(
    ("current", "etag", "seq", "expected"),
    [
        (None, "e1", "10", Decision.WRITE),
        (None, "e1", None, Decision.WRITE),
        (sc(sequencer="10"), "e2", "11", Decision.WRITE),
        (sc(sequencer="10"), "e1", "10", Decision.DUPLICATE),
        (sc(sequencer="10"), "e0", "0F", Decision.STALE),
        (sc(sequencer=None), "e2", "05", Decision.WRITE),  # on-demand sidecar, an event knows better
        (sc(sequencer=None), "e1", "05", Decision.UP_TO_DATE),
        (sc(sequencer="10"), "e1", None, Decision.UP_TO_DATE),  # backfill of an analysed version
        (sc(sequencer="10", version="smartthumb 0.0.1"), "e1", None, Decision.WRITE),  # new analyzer
        (sc(sequencer="10"), "e2", None, Decision.VERIFY),  # only if the object read is still current
        (sc(sequencer=None), "e2", None, Decision.WRITE),
    ],
)
def test_decide_write(current, etag, seq, expected):
    assert decide_write(current, etag, seq, V) is expected


def test_decide_delete():
    assert decide_delete(None, "10") is Decision.DUPLICATE
    assert decide_delete(sc(sequencer="10"), "11") is Decision.WRITE
    assert decide_delete(sc(sequencer="10"), "0F") is Decision.STALE
    assert decide_delete(sc(sequencer=None), "01") is Decision.WRITE


def test_sidecar_round_trip_and_key():
    doc = Sidecar(
        bucket=SOURCE,
        key="img/ü x.jpg",
        etag="abc",
        size=10,
        sequencer="0A",
        roi=Box(1, 2, 3, 4),
        width=20,
        height=10,
        azure={"modelVersion": "m", "metadata": {"width": 20, "height": 10}, "smartCropsResult": {"values": []}},
    )
    back = Sidecar.from_bytes(doc.to_bytes())
    assert back == doc
    assert back.width == 20 and back.height == 10
    assert json.loads(doc.to_bytes())["roi"] == {"x": 1, "y": 2, "w": 3, "h": 4}
    assert sidecar_key("analysis/", "img/a.jpg") == "analysis/img/a.jpg.json"
    long = sidecar_key("analysis/", "img/" + "é" * 600)
    assert long.startswith("analysis/_long-keys/") and len(long.encode()) <= 1024
    with pytest.raises(ValueError):
        Sidecar.from_bytes(b'{"schemaVersion": 99}')
    with pytest.raises(ValueError):
        Sidecar.from_bytes(b"\xff not json")


def test_local_store_writes_conditionally(tmp_path):
    store = LocalSidecarStore(tmp_path)
    assert store.read("img/a.jpg") == (None, None)
    store.write("img/a.jpg", sc(), None)
    current, token = store.read("img/a.jpg")
    assert current.etag == "e1" and token
    with pytest.raises(ConditionFailed):
        store.write("img/a.jpg", sc(etag="e2"), None)  # must not exist
    with pytest.raises(ConditionFailed):
        store.write("img/a.jpg", sc(etag="e2"), '"stale-token"')
    store.write("img/a.jpg", sc(etag="e2"), token)
    assert store.read("img/a.jpg")[0].etag == "e2"
    with pytest.raises(ConditionFailed):
        store.delete("img/a.jpg", token)
    store.delete("img/a.jpg", store.read("img/a.jpg")[1])
    assert store.read("img/a.jpg") == (None, None)
    # A key cannot escape the folder.
    assert tmp_path.resolve() in store.path_for("../../etc/passwd").parents


# --------------------------------------------------------------------- c=7


def block_image() -> bytes:
    """600x200 white with a red block at the right: blind ratio misses it."""
    im = Image.new("RGB", (600, 200), "white")
    im.paste((220, 0, 0), (480, 60, 560, 140))
    return image_bytes(im, "PNG")


ROI = Box(480, 60, 80, 80)


def stored_sidecar(etag: str) -> Sidecar:
    return Sidecar(
        bucket=SOURCE,
        key="block.png",
        etag=etag,
        size=1,
        sequencer="0A",
        roi=ROI,
        trigger="ObjectCreated:Put",
        azure={"modelVersion": "m", "metadata": {"width": 600, "height": 200}, "smartCropsResult": {"values": []}},
    )


def red_in_middle(result) -> bool:
    im = Image.open(io.BytesIO(base64.b64decode(result["body"]))).convert("RGB")
    r, g, b = im.getpixel((im.width // 2, im.height // 2))
    return r > 180 and g < 60 and b < 60


@pytest.fixture
def c7(s3, monkeypatch, function_loader):
    fake = FakeAnalyzer(roi=(0.8, 0.3, 0.13, 0.4))  # the red block, as a model would find it
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=ANALYSIS)
    etag = s3.put_object(Bucket=SOURCE, Key="block.png", Body=block_image())["ETag"].strip('"')
    monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
    monkeypatch.setenv("ANALYSIS_BUCKET", ANALYSIS)
    return with_analyzer(function_loader("thumbnail"), fake), fake, etag, s3


def get(fn, ctx, target):
    return fn.handler(http_api_event("GET", target, {"accept": "image/png"}), ctx)


def test_c7_uses_a_current_sidecar_without_analysing(c7, lambda_context):
    fn, fake, etag, s3 = c7
    s3.put_object(Bucket=ANALYSIS, Key="analysis/block.png.json", Body=stored_sidecar(etag).to_bytes())
    smart = get(fn, lambda_context, "/th?id=block.png&w=100&h=200&c=7")
    blind = get(fn, lambda_context, "/th?id=block.png&w=100&h=200&c=4")
    assert smart["statusCode"] == 200
    assert smart["headers"]["X-Smartthumb-Region"] == "sidecar"
    assert red_in_middle(smart) and not red_in_middle(blind)
    assert fake.calls == []


def test_c7_with_a_stale_sidecar_analyses_and_writes_back(c7, lambda_context):
    fn, fake, etag, s3 = c7
    stale = stored_sidecar("an-older-etag")
    s3.put_object(Bucket=ANALYSIS, Key="analysis/block.png.json", Body=stale.to_bytes())

    first = get(fn, lambda_context, "/th?id=block.png&w=100&h=200&c=7")

    assert first["headers"]["X-Smartthumb-Region"] == "computed"
    assert red_in_middle(first)
    assert len(fake.calls) == 1  # configured ratios only: no automatic pass on the request path
    doc = json.loads(s3.get_object(Bucket=ANALYSIS, Key="analysis/block.png.json")["Body"].read())
    assert doc["source"]["etag"] == etag and doc["trigger"] == "OnDemand"
    assert doc["sequencer"] == "0A"  # the known event order is kept
    second = get(fn, lambda_context, "/th?id=block.png&w=120&h=200&c=7")
    assert second["headers"]["X-Smartthumb-Region"] == "sidecar"
    assert len(fake.calls) == 1


def test_c7_over_budget_falls_back_then_uses_the_finished_analysis(c7, lambda_context, monkeypatch, function_loader):
    s3 = c7[3]
    release = threading.Event()
    fake = FakeAnalyzer(roi=(0.8, 0.3, 0.13, 0.4))

    def slow(data, ratios, settings):  # still running when the request's budget ends
        release.wait(10)
        return fake(data, ratios, settings)

    monkeypatch.setenv("ANALYSIS_TIME_BUDGET_MS", "100")
    fn = with_analyzer(function_loader("thumbnail"), slow)

    first = get(fn, lambda_context, "/th?id=block.png&w=100&h=200&c=7")
    answered_while_running = not release.is_set() and fake.calls == []
    release.set()

    assert first["statusCode"] == 200
    assert first["headers"]["X-Smartthumb-Region"] == "fallback"
    assert first["headers"]["Cache-Control"] == "public, max-age=300"  # a fallback is cached briefly
    assert not red_in_middle(first)
    assert answered_while_running
    assert fn.cache.wait_idle(10)  # the analysis went on after the answer, and wrote back
    assert s3.head_object(Bucket=ANALYSIS, Key="analysis/block.png.json")["ContentLength"] > 0
    later = get(fn, lambda_context, "/th?id=block.png&w=100&h=200&c=7")
    assert later["headers"]["X-Smartthumb-Region"] == "sidecar"
    assert red_in_middle(later)
    assert later["headers"]["ETag"] != first["headers"]["ETag"]


def test_c7_when_analysis_refuses_is_blind_ratio(c7, lambda_context, monkeypatch, function_loader):
    def refuse(data, ratios, settings):
        raise UnsupportedImage("no")

    fn = with_analyzer(function_loader("thumbnail"), refuse)
    result = get(fn, lambda_context, "/th?id=block.png&w=100&h=200&c=7")
    assert result["statusCode"] == 200 and result["headers"]["X-Smartthumb-Region"] == "fallback"


SUBPROCESS = textwrap.dedent(
    """
    import importlib.util, json, os, sys, uuid
    sys.path.insert(0, {repo!r})
    os.environ.update(AWS_ACCESS_KEY_ID="t", AWS_SECRET_ACCESS_KEY="t", AWS_DEFAULT_REGION="us-east-1",
                      POWERTOOLS_TRACE_DISABLED="1", POWERTOOLS_METRICS_NAMESPACE="t",
                      SOURCE_BUCKET={source!r}, ANALYSIS_BUCKET={analysis!r})
    import boto3
    from moto import mock_aws
    from smartthumb.local_server import http_api_event
    from smartthumb.sidecars import Sidecar

    class Ctx:
        function_name = "f"; memory_limit_in_mb = 1024; aws_request_id = str(uuid.uuid4())
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
        def get_remaining_time_in_millis(self): return 30000

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket={source!r}); s3.create_bucket(Bucket={analysis!r})
        data = open(sys.argv[1], "rb").read()
        etag = s3.put_object(Bucket={source!r}, Key="block.png", Body=data)["ETag"].strip('"')
        s3.put_object(Bucket={analysis!r}, Key="analysis/block.png.json", Body=open(sys.argv[2], "rb").read()
                      .replace(b"ETAG", etag.encode()))
        spec = importlib.util.spec_from_file_location("thumb_app", {app!r})
        mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
        res = mod.handler(http_api_event("GET", "/th?id=block.png&w=100&h=200&c=7", {{"accept": "image/png"}}), Ctx())
        loaded = sorted(m for m in sys.modules if m == "onnxruntime" or m.startswith("smartthumb.analysis"))
        print(json.dumps({{"status": res["statusCode"], "region": res["headers"].get("X-Smartthumb-Region"),
                          "body": res["body"], "loaded": loaded, "numpy": "numpy" in sys.modules}}))
    """
)


def test_c7_from_sidecar_loads_no_model_in_a_fresh_process(tmp_path):
    image = tmp_path / "block.png"
    image.write_bytes(block_image())
    sidecar = tmp_path / "sidecar.json"
    sidecar.write_bytes(stored_sidecar("ETAG").to_bytes())
    script = tmp_path / "run.py"
    script.write_text(
        SUBPROCESS.format(
            repo=str(REPO), source=SOURCE, analysis=ANALYSIS, app=str(REPO / "functions" / "thumbnail" / "app.py")
        )
    )
    out = subprocess.run(
        [sys.executable, str(script), str(image), str(sidecar)], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["status"] == 200 and report["region"] == "sidecar"
    # Nothing of the analysis beyond its package is loaded:
    # no onnxruntime, no model loader, no analyzer, no numpy.
    assert set(report["loaded"]) <= {"smartthumb.analysis"}
    assert report["numpy"] is False
    assert red_in_middle(report)


def test_s3_store_writes_conditionally(s3):
    """The S3 store's tokens are the sidecars' S3 ETags, and S3's condition failures
    (as moto answers them) become ConditionFailed; a missing sidecar reads as none."""
    s3.create_bucket(Bucket=ANALYSIS)
    store = S3SidecarStore(ANALYSIS, "analysis/", client=s3)
    assert store.read("img/a.jpg") == (None, None)
    store.write("img/a.jpg", sc(), None)
    current, token = store.read("img/a.jpg")
    assert current.etag == "e1"
    assert token == s3.head_object(Bucket=ANALYSIS, Key="analysis/img/a.jpg.json")["ETag"]
    with pytest.raises(ConditionFailed):
        store.write("img/a.jpg", sc(etag="e2"), None)  # must not exist
    with pytest.raises(ConditionFailed):
        store.write("img/a.jpg", sc(etag="e2"), '"stale-token"')
    store.write("img/a.jpg", sc(etag="e2"), token)
    assert store.read("img/a.jpg")[0].etag == "e2"
    store.delete("img/a.jpg", store.read("img/a.jpg")[1])
    assert store.read("img/a.jpg") == (None, None)


class RacingStore(LocalSidecarStore):
    """Another writer's sidecar lands between our read and our conditional write."""

    def __init__(self, root, intruder: Sidecar) -> None:
        super().__init__(root)
        self.intruder = intruder

    def write(self, source_key, sidecar, expect):
        if self.intruder is not None:
            intruder, self.intruder = self.intruder, None
            super().write(source_key, intruder, None)
        super().write(source_key, sidecar, expect)


def test_concurrent_newer_event_wins_the_race(tmp_path):
    from smartthumb.sidecars import write_guarded

    store = RacingStore(tmp_path, intruder=sc(etag="e2", sequencer="11"))
    result = write_guarded(store, sc(etag="e1", sequencer="10"), current=None, token=None)
    assert result.decision is Decision.STALE and result.attempts == 2
    assert store.read("img/a.jpg")[0].etag == "e2"


def test_concurrent_older_event_is_overwritten_by_the_newer(tmp_path):
    from smartthumb.sidecars import write_guarded

    store = RacingStore(tmp_path, intruder=sc(etag="e1", sequencer="10"))
    result = write_guarded(store, sc(etag="e2", sequencer="11"), current=None, token=None)
    assert result.decision is Decision.WRITE and result.attempts == 2
    assert store.read("img/a.jpg")[0].etag == "e2"


def test_unsequenced_writer_yields_to_any_concurrent_write(tmp_path):
    from smartthumb.sidecars import write_guarded

    store = RacingStore(tmp_path, intruder=sc(etag="e9", sequencer="11"))
    result = write_guarded(store, sc(etag="e1"), current=None, token=None, still_current=lambda: True)
    assert result.decision is Decision.YIELD
    assert store.read("img/a.jpg")[0].etag == "e9"


def test_provider_remembers_sidecars_per_version(tmp_path):
    from smartthumb.config import Settings
    from smartthumb.geometry import Size
    from smartthumb.sidecars import AnalysisCache
    from smartthumb.sources import SourceObject

    class CountingStore(LocalSidecarStore):
        reads = 0

        def read(self, source_key):
            CountingStore.reads += 1
            return super().read(source_key)

    store = CountingStore(tmp_path)
    store.write("block.png", stored_sidecar("v1"), None)
    provider = AnalysisCache(Settings(), store, FakeAnalyzer())
    v1 = SourceObject(key="block.png", data=b"", etag="v1")
    for _ in range(3):
        assert provider.region_for(v1, Size(600, 200), 1000).origin == "sidecar"
    assert CountingStore.reads == 1
    # Another version of the object is a different entry: read (stale), then computed.
    v2 = SourceObject(key="block.png", data=block_image(), etag="v2")
    assert provider.region_for(v2, Size(600, 200), 5000).origin == "computed"
    assert provider.region_for(v2, Size(600, 200), 5000).origin == "sidecar"
    assert provider.analysis_calls == 1

"""``smartthumb focus IMAGE_ID x,y,w,h [--clear]`` on the local store and on S3."""

from __future__ import annotations

import json

import pytest

from smartthumb.cli import main
from tests.handlers.smartcrop_fakes import FakeAnalyzer
from tests.handlers.test_focus_override import two_blocks


@pytest.fixture
def fake(monkeypatch) -> FakeAnalyzer:
    """The CLI's one cache, with a stand-in analyzer (the model is not the point here)."""
    from smartthumb import app_factory

    fake = FakeAnalyzer(roi=(0.8, 0.3, 0.134, 0.4))
    real = app_factory.build_analysis_cache
    monkeypatch.setattr(app_factory, "build_analysis_cache", lambda settings, **kw: real(settings, analyze=fake, **kw))
    return fake


def run(capsys, *args: str) -> tuple[int, dict]:
    rc = main(["focus", *args])
    out, err = capsys.readouterr()
    return rc, json.loads(out or err or "{}")


def test_focus_sets_and_clears_on_the_local_store(tmp_path, monkeypatch, capsys, fake):
    store = tmp_path / "store"
    store.mkdir()
    (store / "blocks.png").write_bytes(two_blocks())
    sidecars = tmp_path / "sidecars"
    monkeypatch.delenv("SOURCE_BUCKET", raising=False)
    monkeypatch.setenv("LOCAL_STORE", str(store))
    monkeypatch.setenv("LOCAL_ANALYSIS_STORE", str(sidecars))

    rc, doc = run(capsys, "blocks.png", "40,60,80,80")
    assert rc == 0 and doc["regionOrigin"] == "manual" and doc["region"] == {"x": 40, "y": 60, "w": 80, "h": 80}
    stored = json.loads((sidecars / "blocks.png.json").read_text())
    assert stored["manualRegion"]["x"] == 40

    rc, doc = run(capsys, "blocks.png", "--clear")
    assert rc == 0 and doc["regionOrigin"] == "saliency" and doc["manualRegion"] is None
    assert json.loads((sidecars / "blocks.png.json").read_text())["manualRegion"] is None

    rc, doc = run(capsys, "blocks.png", "590,0,20,20")
    assert rc == 1 and doc["error"]["code"] == "InvalidParameter" and doc["error"]["param"] == "region"
    rc, doc = run(capsys, "no-such.png", "1,1,2,2")
    assert rc == 1 and doc["error"]["code"] == "NotFound"
    assert main(["focus", "blocks.png"]) == 2  # neither a region nor --clear
    assert main(["focus", "blocks.png", "1,1,2,2", "--clear"]) == 2
    assert len(fake.calls) == 1  # analysed once, then only the sidecar changed


def test_focus_writes_the_s3_sidecar(s3, monkeypatch, capsys, fake):
    s3.create_bucket(Bucket="src")
    s3.create_bucket(Bucket="ana")
    s3.put_object(Bucket="src", Key="img/blocks.png", Body=two_blocks())
    monkeypatch.setenv("SOURCE_BUCKET", "src")
    monkeypatch.setenv("SOURCE_PREFIX", "img/")
    monkeypatch.setenv("ANALYSIS_BUCKET", "ana")
    rc, doc = run(capsys, "blocks.png", "40,60,80,80")
    assert rc == 0 and doc["regionOrigin"] == "manual"
    stored = json.loads(s3.get_object(Bucket="ana", Key="analysis/img/blocks.png.json")["Body"].read())
    assert {k: stored["manualRegion"][k] for k in "xywh"} == {"x": 40, "y": 60, "w": 80, "h": 80}
    assert all(v["boundingBox"]["x"] <= 40 for v in stored["azure"]["smartCropsResult"]["values"])

"""One upload through the ingest path analyses its image once: one decode, one face
pass, at most one saliency pass, and still yields every configured ratio plus the
automatic crop (derived from that one ``Analysis``)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from smartthumb.analysis import analyzer, faces, models, saliency
from smartthumb.config import Settings
from smartthumb.ingest import build_ingestor
from tests.conftest import SAMPLES

SOURCE = "one-pass-source"
ANALYSIS = "one-pass-analysis"
RATIOS = "0.75,1.0,1.5"


def upload_record(s3, key: str, data: bytes) -> dict:
    etag = s3.put_object(Bucket=SOURCE, Key=key, Body=data)["ETag"].strip('"')
    obj = {"key": key, "eTag": etag, "size": len(data), "sequencer": "0A"}
    return {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": SOURCE}, "object": obj}}


@pytest.fixture
def ingest(s3):
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=ANALYSIS)
    settings = Settings.from_env(
        {"SOURCE_BUCKET": SOURCE, "ANALYSIS_BUCKET": ANALYSIS, "SMARTCROP_ASPECT_RATIOS": RATIOS}
    )
    return build_ingestor(settings, client=s3), s3


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = analyzer.decode_for_analysis

    def counted(data, settings, *args, **kwargs):
        calls.append(len(data))
        return real(data, settings, *args, **kwargs)

    monkeypatch.setattr(analyzer, "decode_for_analysis", counted)
    return calls


def written(s3, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=ANALYSIS, Key=f"analysis/{key}.json")["Body"].read())


def assert_complete(doc: dict) -> None:
    values = doc["azure"]["smartCropsResult"]["values"]
    assert [v["aspectRatio"] for v in values] == [0.75, 1.0, 1.5]
    (auto,) = doc["azureAutomatic"]["smartCropsResult"]["values"]
    assert 0.5 <= auto["aspectRatio"] <= 2.0


@pytest.mark.parametrize("with_face", [False, True], ids=["no-face", "face"])
def test_one_upload_runs_each_stage_once(ingest, decodes, monkeypatch, with_face):
    """The stages stubbed (no model files needed), counted per upload."""
    ingestor, s3 = ingest
    stages: Counter[str] = Counter()

    def detect(rgb):
        stages["faces"] += 1
        h, w = rgb.shape[:2]
        face = faces.RawFace(w * 0.4, h * 0.3, w * 0.1, h * 0.15, 0.9, ((0.0, 0.0),) * 5)
        return [face] if with_face else []

    def saliency_map(rgb, side=320):
        stages["saliency"] += 1
        salient = np.zeros((side, side), np.float32)
        salient[100:200, 40:120] = 1.0
        return salient

    monkeypatch.setattr(faces, "detect_faces", detect)
    monkeypatch.setattr(saliency, "saliency_map", saliency_map)

    record = upload_record(s3, "chelsea.jpg", (SAMPLES / "chelsea.jpg").read_bytes())
    [result] = ingestor.handle_records([record])

    assert result.outcome.value == "analysed"
    assert len(decodes) == 1
    assert stages == ({"faces": 1} if with_face else {"faces": 1, "saliency": 1})
    assert_complete(written(s3, "chelsea.jpg"))


@pytest.mark.model
def test_one_upload_runs_each_model_once(ingest, decodes, monkeypatch):
    """The real models: every ``InferenceSession.run`` of one upload, counted."""
    ingestor, s3 = ingest
    runs: Counter[str] = Counter()
    real_get = models.get_session

    class Counted:
        def __init__(self, session, name: str) -> None:
            self._session, self._name = session, name

        def run(self, *args, **kwargs):
            runs[self._name] += 1
            return self._session.run(*args, **kwargs)

        def __getattr__(self, attr):
            return getattr(self._session, attr)

    monkeypatch.setattr(models, "get_session", lambda model, side=None: Counted(real_get(model, side), model.filename))

    record = upload_record(s3, "coffee.jpg", (SAMPLES / "coffee.jpg").read_bytes())
    [result] = ingestor.handle_records([record])

    assert result.outcome.value == "analysed"
    assert len(decodes) == 1
    assert runs[models.YUNET.filename] == 1
    assert runs[models.U2NETP.filename] <= 1
    assert_complete(written(s3, "coffee.jpg"))

"""Sidecars written before the importance profile existed (``analysis`` without
``importance``): ``c=7`` from one crops its own stored Azure box for each ratio
it precomputed, places the region by the pinned-region rule for other ratios,
and a backfill re-analyses it (keeping a manual region) instead of calling it
up to date."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
from PIL import Image

from smartthumb import placement
from smartthumb.analysis import boxes
from smartthumb.analysis.analyzer import Analysis
from smartthumb.app_factory import build_analysis_cache
from smartthumb.config import Settings
from smartthumb.focus import with_manual_region
from smartthumb.geometry import Box, Size, ratio_box_size, smart_crop
from smartthumb.request import parse_th
from smartthumb.service import ThumbnailService
from smartthumb.sidecars import Decision, LocalSidecarStore, Sidecar, decide_write
from smartthumb.sidecars.document import ANALYZER_VERSION
from smartthumb.sources import SourceObject
from tests.conftest import stored_upload

SIZE = Size(400, 1000)
CONFIG = Settings(smartcrop_aspect_ratios=(0.75, 1.0, 1.5))


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (SIZE.width, SIZE.height), (90, 120, 150)).save(out, "PNG")
    return out.getvalue()


class OneImage:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def get(self, image_id: str) -> SourceObject:
        return SourceObject(key=image_id, data=self.data, etag="e1", content_type="image/png")


def current_analysis() -> Analysis:
    """A tall salient subject (rows 100..900): today's rule keeps its top."""
    saliency = np.zeros((50, 20), dtype=np.float32)
    saliency[5:45, 5:15] = 1.0
    roi = boxes.region_of_interest([], saliency, SIZE)
    importance = boxes.Importance.from_map(saliency, SIZE, roi).compact()
    return Analysis(SIZE.width, SIZE.height, (), roi, (), importance=importance, region_origin="saliency")


def sidecar_of(analysis: Analysis) -> Sidecar:
    ratios = CONFIG.smartcrop_aspect_ratios
    return Sidecar.from_analysis(
        bucket="", key="a.png", etag="e1", size=1, analysis=analysis, automatic=analysis, ratios=ratios
    )


def legacy_sidecar(whole: Analysis) -> Sidecar:
    """What an analyzer before the profile wrote: no ``importance`` key, and boxes
    placed by the rule of its day (centred on the region)."""
    old = replace(whole, crops=tuple((r, smart_crop(SIZE, r, whole.roi)) for r in CONFIG.smartcrop_aspect_ratios))
    sidecar = sidecar_of(old)
    analysis = {k: v for k, v in sidecar.analysis.items() if k != "importance"}
    return replace(sidecar, analysis=analysis)


def never(data, ratios, settings):
    raise AssertionError("a stored sidecar must not be re-analysed on a thumbnail request")


def test_c7_from_a_legacy_sidecar_crops_its_stored_boxes(tmp_path) -> None:
    whole = current_analysis()
    legacy = legacy_sidecar(whole)
    assert legacy.lacks_profile and not sidecar_of(whole.crops_for([1.0])).lacks_profile
    store = LocalSidecarStore(tmp_path)
    store.write("a.png", legacy, None)
    cache = build_analysis_cache(CONFIG, store=store, analyze=never)
    service = ThumbnailService(CONFIG, OneImage(png()), regions=cache)

    def c7(w: int, h: int) -> Box:
        result = service.thumbnail(parse_th({"id": "a.png", "w": str(w), "h": str(h), "c": "7"}, CONFIG))
        assert result.region_origin == "sidecar"
        return result.crop

    stored = {v["aspectRatio"]: Box(**v["boundingBox"]) for v in legacy.azure["smartCropsResult"]["values"]}
    # Precomputed ratios: the sidecar's own Azure box (centred, the old rule), not today's (the top).
    assert c7(1000, 1000) == stored[1.0] == Box(0, 300, 400, 400)
    assert whole.crops_for([1.0]).crops[0][1] == Box(0, whole.roi.y, 400, 400) != stored[1.0]
    assert c7(750, 1000) == stored[0.75]
    assert c7(1500, 1000) == stored[1.5]
    # Another ratio: the region by the pinned-region rule (taller than the window: its top).
    window = ratio_box_size(SIZE, 0.6)
    assert c7(600, 1000) == placement.pinned_window(SIZE, window, whole.roi, ()) == Box(0, whole.roi.y, 400, 667)


def test_a_legacy_sidecar_is_not_up_to_date() -> None:
    legacy = legacy_sidecar(current_analysis())
    assert legacy.analyzer_version == ANALYZER_VERSION and legacy.etag == "e1"
    assert decide_write(legacy, "e1", None, ANALYZER_VERSION) is Decision.WRITE  # backfill, on-demand
    assert decide_write(replace(legacy, sequencer=None), "e1", "0A", ANALYZER_VERSION) is Decision.WRITE  # an event
    upgraded = sidecar_of(current_analysis().crops_for([1.0]))
    assert decide_write(upgraded, "e1", None, ANALYZER_VERSION) is Decision.UP_TO_DATE


def test_a_backfill_upgrades_a_legacy_sidecar_and_keeps_its_manual_region(s3, monkeypatch) -> None:
    from smartthumb.ingest import Outcome, build_ingestor

    etag = stored_upload(s3, monkeypatch, "a.png", png())
    settings = Settings.from_env()
    whole = current_analysis()
    manual = Box(50, 50, 100, 100)
    legacy = with_manual_region(replace(legacy_sidecar(whole), etag=etag, bucket="src"), manual, "2026-01-01T00:00:00Z")
    ingestor = build_ingestor(settings, analyze=lambda data, ratios, s: whole.crops_for(ratios))
    ingestor.store.write("a.png", legacy, None)

    result = ingestor.backfill("src", "a.png")
    assert result.outcome is Outcome.ANALYSED, result.reason
    upgraded, _ = ingestor.store.read("a.png")
    assert not upgraded.lacks_profile and upgraded.analysis["importance"] == whole.importance.to_lists()
    assert upgraded.manual_region["x"] == manual.x and upgraded.manual_region["setAt"] == "2026-01-01T00:00:00Z"
    # A second backfill finds it up to date.
    assert ingestor.backfill("src", "a.png").outcome is not Outcome.ANALYSED

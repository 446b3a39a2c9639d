"""Issue 10's one-rule property: for generated scenes and every ratio, ``/th?c=7``
crops exactly the box the Azure answer gives (``X-Smartthumb-Crop`` == Azure box).

The scene stands in for the models' output (faces anywhere, several far apart,
a salient blob at an edge); everything after it is the real code: the analysis
places its crops (``Analysis.crops_for``), the one ``AnalysisCache`` stores the
sidecar, ``c=7`` is served from it by :class:`ThumbnailService` (pure-Python
placement, no models) and the header is the service's crop box.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from smartthumb.analysis import boxes
from smartthumb.analysis.analyzer import Analysis, Face
from smartthumb.app_factory import build_analysis_cache, build_thumbnail_app
from smartthumb.config import Settings
from smartthumb.embedded_regions import EmbeddedRegion
from smartthumb.embedded_regions import region_of_interest as embedded_roi
from smartthumb.geometry import Box, Size
from smartthumb.local_server import http_api_event
from smartthumb.request import parse_th
from smartthumb.service import ThumbnailService
from smartthumb.sidecars import LocalSidecarStore
from smartthumb.sources import SourceObject

RATIOS = (0.75, 1.0, 1.33, 1.5, 1.78, 0.5, 2.0)


class OneImage:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def get(self, image_id: str) -> SourceObject:
        return SourceObject(key=image_id, data=self.data, etag="e1", content_type="image/png")


@st.composite
def scenes(draw: st.DrawFn) -> tuple[Size, list[Box], np.ndarray | None]:
    size = Size(draw(st.integers(40, 1200)), draw(st.integers(40, 1200)))
    faces = []
    for _ in range(draw(st.integers(0, 4))):
        w = draw(st.integers(4, max(4, size.width // 4)))
        h = draw(st.integers(4, max(4, size.height // 4)))
        faces.append(Box(draw(st.integers(0, size.width - w)), draw(st.integers(0, size.height - h)), w, h))
    saliency = None
    if not faces or draw(st.booleans()):
        mh, mw = draw(st.integers(8, 40)), draw(st.integers(8, 40))
        saliency = np.zeros((mh, mw), dtype=np.float32)
        y0, x0 = draw(st.integers(0, mh - 1)), draw(st.integers(0, mw - 1))
        y1, x1 = draw(st.integers(y0 + 1, mh)), draw(st.integers(x0 + 1, mw))
        saliency[y0:y1, x0:x1] = draw(st.floats(0.5, 1.0))  # a blob anywhere, edges included
    return size, faces, saliency


def analysis_of(size: Size, faces: list[Box], saliency: np.ndarray | None) -> Analysis:
    """What analyze_array builds after the models (same calls)."""
    sal = saliency if not faces else None
    roi = boxes.region_of_interest(faces, sal, size)
    importance = boxes.Importance.from_map(sal, size, roi).compact() if sal is not None else None
    found = tuple(Face(box=f, score=0.9, landmarks=((0.0, 0.0),) * 5) for f in faces)
    return Analysis(size.width, size.height, found, roi, (), importance=importance)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_c7_crops_the_azure_box_at_every_ratio(tmp_path_factory, scene) -> None:
    size, faces, saliency = scene
    whole = analysis_of(size, faces, saliency)

    def analyze(data, ratios, settings):
        return whole.crops_for(ratios)

    png = io.BytesIO()
    Image.new("RGB", (size.width, size.height), (90, 120, 150)).save(png, "PNG")
    config = Settings()
    cache = build_analysis_cache(config, store=LocalSidecarStore(tmp_path_factory.mktemp("sc")), analyze=analyze)
    service = ThumbnailService(config, OneImage(png.getvalue()), regions=cache)
    for ratio in RATIOS:
        w, h = 1000, max(1, round(1000 / ratio))
        azure = whole.crops_for([w / h]).crops[0][1]
        result = service.thumbnail(parse_th({"id": "a.png", "w": str(w), "h": str(h), "c": "7"}, config))
        assert result.region_origin in ("computed", "sidecar")
        assert result.crop is not None
        assert math.isclose(result.crop.x, azure.x, abs_tol=1) and math.isclose(result.crop.y, azure.y, abs_tol=1)
        assert (result.crop.w, result.crop.h) == (azure.w, azure.h)


def test_th_responses_carry_the_crop_box(tmp_path, lambda_context) -> None:
    """``X-Smartthumb-Crop: x,y,w,h`` on c=4 (Bing's blind box) and c=7 (the Azure box); none without a crop."""
    from smartthumb.app_factory import build_thumbnail_app
    from smartthumb.geometry import blind_crop
    from smartthumb.local_server import http_api_event

    size = Size(900, 300)
    whole = analysis_of(size, [Box(780, 40, 60, 70), Box(20, 60, 50, 60)], None)
    png = io.BytesIO()
    Image.new("RGB", (size.width, size.height), (90, 120, 150)).save(png, "PNG")
    config = Settings()
    cache = build_analysis_cache(
        config, store=LocalSidecarStore(tmp_path), analyze=lambda data, ratios, settings: whole.crops_for(ratios)
    )
    app = build_thumbnail_app(config, source=OneImage(png.getvalue()), cache=cache)

    def crop_header(query: str) -> str | None:
        res = app.resolve(http_api_event("GET", f"/th?id=a.png&{query}", {"accept": "image/png"}), lambda_context)
        assert res["statusCode"] == 200
        return res["headers"].get("X-Smartthumb-Crop")

    b = blind_crop(size, 1.0)
    assert crop_header("w=100&h=100&c=4") == f"{b.x},{b.y},{b.w},{b.h}"
    a = whole.crops_for([1.0]).crops[0][1]
    assert crop_header("w=100&h=100&c=7") == f"{a.x},{a.y},{a.w},{a.h}"
    assert crop_header("w=100&h=100") is None


# --------------------------------------------- pinned regions: manual, embedded

#: Target sizes whose ratio is exactly a configured one, so the Azure answer holds that very box.
EXACT = {0.75: (750, 1000), 1.0: (1000, 1000), 1.25: (1250, 1000), 1.5: (1500, 1000), 1.78: (1780, 1000)}
PINNED_SETTINGS = Settings(smartcrop_aspect_ratios=tuple(EXACT))


@st.composite
def regions_in(draw: st.DrawFn, size: Size) -> Box:
    w, h = draw(st.integers(1, size.width)), draw(st.integers(1, size.height))
    return Box(draw(st.integers(0, size.width - w)), draw(st.integers(0, size.height - h)), w, h)


def _app(tmp_path_factory, size: Size, analyze):
    png = io.BytesIO()
    Image.new("RGB", (size.width, size.height), (90, 120, 150)).save(png, "PNG")
    cache = build_analysis_cache(
        PINNED_SETTINGS, store=LocalSidecarStore(tmp_path_factory.mktemp("sc")), analyze=analyze
    )
    return build_thumbnail_app(PINNED_SETTINGS, source=OneImage(png.getvalue()), cache=cache)


def _call(app, method: str, target: str, body: dict | None = None) -> dict:
    event = http_api_event(method, target, {"accept": "image/png", "content-type": "application/json"})
    if body is not None:
        event["body"] = json.dumps(body)
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 30000, aws_request_id="t", function_name="f")
    res = app.resolve(event, context)
    assert res["statusCode"] == 200, res.get("body")
    return res


def _azure_boxes(doc: dict) -> dict[float, Box]:
    return {v["aspectRatio"]: Box(**v["boundingBox"]) for v in doc["smartCropsResult"]["values"]}


def _assert_c7_is_the_azure_box(app, azure: dict[float, Box], origin: str) -> None:
    for ratio, (w, h) in EXACT.items():
        res = _call(app, "GET", f"/th?id=a.png&w={w}&h={h}&c=7")
        assert res["headers"]["X-Smartthumb-Region"] == origin
        x, y, cw, ch = (int(v) for v in res["headers"]["X-Smartthumb-Crop"].split(","))
        a = azure[ratio]
        assert abs(x - a.x) <= 1 and abs(y - a.y) <= 1 and (cw, ch) == (a.w, a.h), ratio


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_c7_crops_the_azure_box_with_a_manual_region(tmp_path_factory, data) -> None:
    """PUT a region: the Azure answer it returns and c=7 place it by the same (pinned) rule,
    c=7 says ``manual``, and the region is whole in every box it fits in."""
    size, faces, saliency = data.draw(scenes())
    region = data.draw(regions_in(size))
    whole = analysis_of(size, faces, saliency)
    app = _app(tmp_path_factory, size, lambda d, ratios, s: whole.crops_for(ratios))
    put = {"region": {"x": region.x, "y": region.y, "w": region.w, "h": region.h}}
    doc = json.loads(_call(app, "PUT", "/analysis?id=a.png", put)["body"])
    assert doc["regionOrigin"] == "manual"
    azure = _azure_boxes(doc)
    assert set(azure) == set(EXACT)
    for box in azure.values():
        if box.w >= region.w and box.h >= region.h:
            assert box.contains(region)
    _assert_c7_is_the_azure_box(app, azure, "manual")
    assert _azure_boxes(json.loads(_call(app, "GET", "/analysis?id=a.png")["body"])) == azure


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_c7_crops_the_azure_box_with_an_embedded_region(tmp_path_factory, data) -> None:
    """Embedded regions (what analyze_array builds when the file names some: faces far
    apart, a subject, the region their union): the stored Azure answer and c=7 agree
    and c=7 says ``embedded``."""
    size, faces, _ = data.draw(scenes())
    named = [
        EmbeddedRegion(data.draw(regions_in(size)), data.draw(st.sampled_from(["face", "subject"])), "mwg")
        for _ in range(data.draw(st.integers(1, 3)))
    ]
    region = embedded_roi(named)
    whole = replace(analysis_of(size, faces, None), roi=region, region_origin="embedded", embedded=tuple(named))
    app = _app(tmp_path_factory, size, lambda d, ratios, s: whole.crops_for(ratios))
    doc = json.loads(_call(app, "GET", "/analysis?id=a.png")["body"])
    assert doc["regionOrigin"] == "embedded"
    azure = _azure_boxes(doc)
    assert azure == {r: b for r, b in whole.crops_for(list(EXACT)).crops}
    _assert_c7_is_the_azure_box(app, azure, "embedded")


def test_nothing_salient_centres_c7_like_the_azure_box(tmp_path) -> None:
    """Analysed, nothing found: the Azure box is centred, and so is c=7 (not Bing's blind
    ratio, which keeps the top of a tall image)."""
    size = Size(300, 900)
    whole = analysis_of(size, [], np.zeros((20, 10), dtype=np.float32))
    assert whole.roi is None
    azure = whole.crops_for([1.0]).crops[0][1]
    assert azure == Box(0, 300, 300, 300)
    png = io.BytesIO()
    Image.new("RGB", (size.width, size.height), (90, 120, 150)).save(png, "PNG")
    config = Settings()
    cache = build_analysis_cache(
        config, store=LocalSidecarStore(tmp_path), analyze=lambda data, ratios, s: whole.crops_for(ratios)
    )
    service = ThumbnailService(config, OneImage(png.getvalue()), regions=cache)
    for _ in range(2):  # computed, then from the sidecar
        result = service.thumbnail(parse_th({"id": "a.png", "w": "100", "h": "100", "c": "7"}, config))
        assert result.crop == azure


def test_embedded_faces_far_apart_keep_one_whole_not_the_gap() -> None:
    """Two faces the file names, far apart in a 3000x1000 image: their union does not fit
    a 1:1 box, so the box stays inside it and keeps a face whole (centring on the union,
    the old rule, kept neither)."""
    size = Size(3000, 1000)
    left, right = Box(100, 300, 200, 250), Box(2700, 300, 200, 250)
    named = (EmbeddedRegion(left, "face", "mwg"), EmbeddedRegion(right, "face", "mwg"))
    whole = Analysis(size.width, size.height, (), embedded_roi(named), (), embedded=named, region_origin="embedded")
    ((_, box),) = whole.crops_for([1.0]).crops
    assert box.contains(left) or box.contains(right)
    centred = Box(1000, 0, 1000, 1000)
    assert not centred.contains(left) and not centred.contains(right)

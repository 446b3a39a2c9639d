"""Manual regions: ``PUT /analysis`` drives ``c=7`` and the Azure boxes, survives
re-analysis of the same image, goes with a replaced image, and needs a signature
when signing is on. Also ``smartthumb focus``, the same operation from the CLI."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
from PIL import Image

from smartthumb.focus_routes import sign_focus_query
from smartthumb.geometry import Box, Size
from smartthumb.local_server import http_api_event
from smartthumb.signing import sign_query
from tests.conftest import image_bytes
from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_analyzer

SOURCE = "smartthumb-source"
ANALYSIS = "smartthumb-analysis"
SIZE = Size(600, 200)
#: The detected region (a red block at the right) and the person's region (a green block at the left).
RED = Box(480, 60, 80, 80)
GREEN = Box(40, 60, 80, 80)
RATIOS = ("w=100&h=200", "w=200&h=200", "w=150&h=200", "w=300&h=200")


def two_blocks() -> bytes:
    im = Image.new("RGB", (SIZE.width, SIZE.height), "white")
    im.paste((220, 0, 0), RED.as_tuple())
    im.paste((0, 200, 0), GREEN.as_tuple())
    return image_bytes(im, "PNG")


def colour_box(result, colour: str) -> tuple[int, int, int, int] | None:
    """Bounding box (Pillow's ``left, upper, right, lower``) of the red or green pixels of a thumbnail."""
    import numpy as np

    rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["body"]))).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mask = (r > 150) & (g < 80) & (b < 80) if colour == "red" else (g > 150) & (r < 80) & (b < 80)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def wholly_inside(result, colour: str) -> bool:
    """The block is in the thumbnail and touches none of its edges: kept whole."""
    bbox = colour_box(result, colour)
    if bbox is None:
        return False
    im = Image.open(io.BytesIO(base64.b64decode(result["body"])))
    return bbox[0] > 0 and bbox[1] > 0 and bbox[2] < im.width and bbox[3] < im.height


class Api:
    def __init__(self, fn, ctx, s3, fake, etag: str) -> None:
        self.fn, self.ctx, self.s3, self.fake, self.etag = fn, ctx, s3, fake, etag

    def call(self, method: str, target: str, body: bytes | None = None, headers: dict | None = None) -> dict:
        event = http_api_event(method, target, headers or {"accept": "image/png"})
        if body is not None:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
        return self.fn.handler(event, self.ctx)

    def put(self, image_id: str, region: Box | None, query: str | None = None) -> dict:
        body = json.dumps(
            {"region": None if region is None else {"x": region.x, "y": region.y, "w": region.w, "h": region.h}}
        )
        return self.call(
            "PUT", f"/analysis?{query or 'id=' + image_id}", body.encode(), {"content-type": "application/json"}
        )

    def th(self, query: str, image_id: str = "blocks.png") -> dict:
        return self.call("GET", f"/th?id={image_id}&{query}&c=7")

    def analysis(self, image_id: str = "blocks.png") -> dict:
        return json.loads(self.call("GET", f"/analysis?id={image_id}")["body"])

    def sidecar(self) -> dict:
        return json.loads(self.s3.get_object(Bucket=ANALYSIS, Key="analysis/blocks.png.json")["Body"].read())


@pytest.fixture
def api(s3, monkeypatch, function_loader, lambda_context):
    fake = FakeAnalyzer(roi=(0.8, 0.3, 0.134, 0.4))  # finds the red block
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=ANALYSIS)
    etag = s3.put_object(Bucket=SOURCE, Key="blocks.png", Body=two_blocks())["ETag"].strip('"')
    monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
    monkeypatch.setenv("ANALYSIS_BUCKET", ANALYSIS)
    monkeypatch.setenv("SMARTCROP_ASPECT_RATIOS", "0.75,1.0,1.5")
    fn = with_analyzer(function_loader("thumbnail"), fake)
    return Api(fn, lambda_context, s3, fake, etag)


def box_of(value: dict) -> Box:
    b = value["boundingBox"]
    return Box(b["x"], b["y"], b["w"], b["h"])


def test_a_manual_region_drives_c7_and_the_azure_boxes_and_clearing_restores_them(api):
    detected = {q: api.th(q) for q in RATIOS}
    assert all(wholly_inside(r, "red") and colour_box(r, "green") is None for r in detected.values())
    assert api.analysis()["regionOrigin"] == "saliency"

    answer = api.put("blocks.png", GREEN)
    assert answer["statusCode"] == 200, answer["body"]
    doc = json.loads(answer["body"])
    assert doc["region"] == {"x": 40, "y": 60, "w": 80, "h": 80} and doc["regionOrigin"] == "manual"
    assert doc["manualRegion"]["x"] == 40 and doc["manualRegion"]["setAt"]
    values = doc["smartCropsResult"]["values"]
    assert [v["aspectRatio"] for v in values] == [0.75, 1.0, 1.5]
    assert all(box_of(v).contains(GREEN) for v in values)

    for query in RATIOS:
        smart = api.th(query)
        assert smart["statusCode"] == 200
        assert smart["headers"]["X-Smartthumb-Region"] == "manual"
        assert wholly_inside(smart, "green") and colour_box(smart, "red") is None, query
        crop = smart["headers"].get("X-Smartthumb-Crop")
        if crop is not None:  # the crop header (issue 10, item 1) where it is served
            x, y, w, h = (int(v) for v in crop.split(","))
            assert Box(x, y, w, h).contains(GREEN)
    assert api.analysis()["regionOrigin"] == "manual"

    cleared = api.put("blocks.png", None)
    assert cleared["statusCode"] == 200
    assert json.loads(cleared["body"])["regionOrigin"] == "saliency"
    assert json.loads(cleared["body"])["smartCropsResult"] == json.loads(json.dumps(api.analysis()))["smartCropsResult"]
    assert api.sidecar()["manualRegion"] is None
    for query in RATIOS:
        again = api.th(query)
        assert again["headers"]["X-Smartthumb-Region"] == "sidecar"
        assert wholly_inside(again, "red") and colour_box(again, "green") is None


def test_re_analysis_of_the_same_image_keeps_the_manual_region(api):
    from smartthumb.config import Settings
    from smartthumb.ingest import build_ingestor
    from smartthumb.sidecars import Sidecar

    assert api.put("blocks.png", GREEN)["statusCode"] == 200
    # The sidecar as an older release wrote it: a backfill with this release re-analyses.
    stored = Sidecar.from_json(api.sidecar())
    old = json.loads(stored.to_bytes())
    old["analyzerVersion"] = "smartthumb 0.0.1"
    api.s3.put_object(Bucket=ANALYSIS, Key="analysis/blocks.png.json", Body=json.dumps(old).encode())

    ingestor = build_ingestor(Settings.from_env(), analyze=api.fake)
    calls = len(api.fake.calls)
    assert ingestor.backfill(SOURCE, "blocks.png").outcome.value == "analysed"
    assert len(api.fake.calls) == calls + 1  # it did analyse again
    after = api.sidecar()
    assert after["analyzerVersion"] != "smartthumb 0.0.1"
    assert {k: after["manualRegion"][k] for k in "xywh"} == {"x": 40, "y": 60, "w": 80, "h": 80}

    # Events for the same version (the same bytes put again): the first only records its order,
    # a later one analyses again, and a duplicate delivery changes nothing. The region stays.
    def put_event(sequencer: str) -> dict:
        obj = {"key": "blocks.png", "eTag": api.etag, "size": 1, "sequencer": sequencer}
        return {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": SOURCE}, "object": obj}}

    outcomes = [r.outcome.value for r in ingestor.handle_records([put_event("0A")])]
    assert outcomes == ["up-to-date"] and api.sidecar()["sequencer"] == "0A"
    calls = len(api.fake.calls)
    outcomes = [r.outcome.value for r in ingestor.handle_records([put_event("0B"), put_event("0B")])]
    assert outcomes == ["analysed", "duplicate"] and len(api.fake.calls) == calls + 1
    assert api.sidecar()["sequencer"] == "0B" and api.sidecar()["manualRegion"]["x"] == 40
    fresh = with_analyzer(api.fn, api.fake)  # a new container: nothing remembered
    smart = Api(fresh, api.ctx, api.s3, api.fake, api.etag).th("w=100&h=200")
    assert smart["headers"]["X-Smartthumb-Region"] == "manual" and wholly_inside(smart, "green")


def test_a_replaced_image_starts_without_the_manual_region(api):
    assert api.put("blocks.png", GREEN)["statusCode"] == 200
    im = Image.new("RGB", (600, 200), "white")
    im.paste((220, 0, 0), RED.as_tuple())
    api.s3.put_object(Bucket=SOURCE, Key="blocks.png", Body=image_bytes(im, "PNG"))  # a new ETag
    smart = api.th("w=100&h=200")
    assert smart["headers"]["X-Smartthumb-Region"] == "computed"
    assert api.analysis()["regionOrigin"] == "saliency" and api.analysis()["manualRegion"] is None


@pytest.mark.parametrize(
    ("region", "why"),
    [
        (Box(590, 0, 20, 20), "not inside"),
        (Box(0, 190, 10, 11), "not inside"),
        (Box(-1, 0, 10, 10), "not inside"),
        (Box(0, 0, 0, 10), "positive"),
    ],
)
def test_a_box_outside_the_image_is_400(api, region, why):
    answer = api.put("blocks.png", region)
    assert answer["statusCode"] == 400
    error = json.loads(answer["body"])["error"]
    assert error["code"] == "InvalidParameter" and error["param"] == "region" and why in error["message"]


def test_missing_images_and_malformed_bodies(api):
    missing = api.put("no-such.png", GREEN)
    assert missing["statusCode"] == 404 and json.loads(missing["body"])["error"]["code"] == "NotFound"
    for body in (b"", b"{", b'{"region": [1, 2, 3, 4]}', b'{"box": null}'):
        answer = api.call("PUT", "/analysis?id=blocks.png", body)
        assert answer["statusCode"] == 400, body
    assert api.call("PUT", "/analysis", b'{"region": null}')["statusCode"] == 400  # no id


SECRET = "focus-test-secret"


@pytest.fixture
def signed_api(s3, monkeypatch, function_loader, lambda_context):
    monkeypatch.setenv("SIGNING_SECRET", SECRET)
    fake = FakeAnalyzer(roi=(0.8, 0.3, 0.134, 0.4))
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket=ANALYSIS)
    etag = s3.put_object(Bucket=SOURCE, Key="blocks.png", Body=two_blocks())["ETag"].strip('"')
    monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
    monkeypatch.setenv("ANALYSIS_BUCKET", ANALYSIS)
    return Api(with_analyzer(function_loader("thumbnail"), fake), lambda_context, s3, fake, etag)


def _body(region: Box | None) -> bytes:
    return json.dumps(
        {"region": None if region is None else {"x": region.x, "y": region.y, "w": region.w, "h": region.h}}
    ).encode()


def test_with_signing_on_the_put_must_be_signed_for_its_route_and_body(signed_api):
    api = signed_api
    assert api.put("blocks.png", GREEN)["statusCode"] == 403  # unsigned
    th_sig = sign_query(SECRET, "id=blocks.png")  # a valid /th signature
    assert api.put("blocks.png", GREEN, query=th_sig)["statusCode"] == 403
    other = sign_focus_query(SECRET, "blocks.png", _body(RED))  # signed for another region
    assert api.put("blocks.png", GREEN, query=other)["statusCode"] == 403
    expired = sign_focus_query(SECRET, "blocks.png", _body(GREEN), expires_at=int(time.time()) - 10)
    assert api.put("blocks.png", GREEN, query=expired)["statusCode"] == 403
    good = sign_focus_query(SECRET, "blocks.png", _body(GREEN), expires_at=int(time.time()) + 300)
    answer = api.put("blocks.png", GREEN, query=good)
    assert answer["statusCode"] == 200, answer["body"]
    assert json.loads(answer["body"])["regionOrigin"] == "manual"


def test_another_containers_memory_sees_the_region_after_its_ttl(api):
    """This container remembers the sidecar; another one stores a region;
    this one's ``c=7`` follows within ``MEMO_TTL_S``, without being told."""
    from smartthumb.app_factory import build_analysis_cache
    from smartthumb.focus_routes import set_region
    from smartthumb.sidecars.cache import MEMO_TTL_S
    from smartthumb.sources import source_from_settings

    clock = [1000.0]
    api.fn.cache.clock = lambda: clock[0]
    api.th("w=100&h=200")  # analysed, written back and remembered
    assert api.th("w=100&h=200")["headers"]["X-Smartthumb-Region"] == "sidecar"
    other = build_analysis_cache(api.fn.settings, analyze=api.fake)  # another container
    set_region(other, source_from_settings(api.fn.settings).get("blocks.png"), GREEN)
    assert api.th("w=100&h=200")["headers"]["X-Smartthumb-Region"] == "sidecar"  # still the remembered one
    clock[0] += MEMO_TTL_S + 1
    smart = api.th("w=100&h=200")
    assert smart["headers"]["X-Smartthumb-Region"] == "manual" and wholly_inside(smart, "green")

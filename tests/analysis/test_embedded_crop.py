"""Embedded regions drive the crop: a JPEG whose MWG face region (or IPTC
region) marks a spot with no visible face gets crops that keep that spot,
where the same pixels without the metadata are cropped to their salient block."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from smartthumb.analysis.analyzer import analyze_image
from smartthumb.geometry import Box
from smartthumb.local_server import http_api_event
from tests.conftest import image_bytes, stored_upload
from tests.xmp_builders import Iptc, Mwg, iptc_xmp, jpeg_with_xmp, mwg_xmp

RED = Box(480, 60, 80, 80)  # what saliency finds
SPOT = Box(40, 50, 60, 90)  # where the metadata says a face is: plain grey, no face to see
RATIOS = [0.75, 1.0, 1.5]


def scene() -> Image.Image:
    im = Image.new("RGB", (600, 200), (235, 235, 235))
    im.paste((220, 0, 0), RED.as_tuple())
    return im


def with_mwg() -> bytes:
    face = Mwg((SPOT.x + SPOT.w / 2) / 600, (SPOT.y + SPOT.h / 2) / 200, SPOT.w / 600, SPOT.h / 200)
    return jpeg_with_xmp(scene(), mwg_xmp([face], (600, 200)))


def with_iptc() -> bytes:
    region = Iptc("rectangle", "pixel", x=SPOT.x, y=SPOT.y, w=SPOT.w, h=SPOT.h)
    return jpeg_with_xmp(scene(), iptc_xmp([region]))


@pytest.mark.model
@pytest.mark.parametrize("make", [with_mwg, with_iptc], ids=["mwg-face", "iptc-region"])
def test_an_embedded_region_at_a_blank_spot_drives_the_crop(make, settings) -> None:
    plain = analyze_image(image_bytes(scene(), "JPEG"), RATIOS, settings)
    assert plain.region_origin == "saliency"
    assert all(box.contains(RED) for _, box in plain.crops)

    marked = analyze_image(make(), RATIOS, settings)
    assert marked.region_origin == "embedded"
    assert marked.roi == SPOT
    assert [r.box for r in marked.embedded] == [SPOT]
    for _, box in marked.crops:
        assert box.contains(SPOT) and not box.contains(RED)
    auto = marked.automatic()
    assert auto.crops[0][1].contains(SPOT)
    assert marked.to_dict()["regionOrigin"] == "embedded"
    assert marked.to_dict()["embeddedRegions"][0]["box"] == [SPOT.x, SPOT.y, SPOT.w, SPOT.h]


@pytest.mark.model
@pytest.mark.slow
def test_c7_says_embedded_and_keeps_the_spot(s3, monkeypatch, function_loader, lambda_context) -> None:
    stored_upload(s3, monkeypatch, "marked.jpg", with_mwg())
    monkeypatch.setenv("SMARTCROP_ASPECT_RATIOS", "0.75,1.0,1.5")
    fn = function_loader("thumbnail")
    event = http_api_event("GET", "/analysis?id=marked.jpg", {"accept": "*/*"})
    doc = json.loads(fn.handler(event, lambda_context)["body"])
    assert doc["regionOrigin"] == "embedded"
    assert doc["region"] == {"x": SPOT.x, "y": SPOT.y, "w": SPOT.w, "h": SPOT.h}
    assert doc["embeddedRegions"][0]["kind"] == "face"
    result = fn.handler(
        http_api_event("GET", "/th?id=marked.jpg&w=100&h=200&c=7", {"accept": "image/png"}), lambda_context
    )
    assert result["statusCode"] == 200
    assert result["headers"]["X-Smartthumb-Region"] == "embedded"
    thumb = Image.open(io.BytesIO(base64.b64decode(result["body"]))).convert("RGB")
    reds = sum(1 for r, g, b in thumb.get_flattened_data() if r > 150 and g < 80 and b < 80)
    assert reds == 0  # the salient block is cut: the embedded spot decided
    # The one rule: c=7 at a configured ratio crops the Azure box GET /analysis shows.
    azure = {v["aspectRatio"]: v["boundingBox"] for v in doc["smartCropsResult"]["values"]}
    for ratio, query in ((0.75, "w=150&h=200"), (1.5, "w=300&h=200")):
        res = fn.handler(
            http_api_event("GET", f"/th?id=marked.jpg&{query}&c=7", {"accept": "image/png"}), lambda_context
        )
        assert res["headers"]["X-Smartthumb-Region"] == "embedded"
        assert res["headers"]["X-Smartthumb-Crop"] == "{x},{y},{w},{h}".format(**azure[ratio])


@pytest.mark.model
def test_the_upload_analysis_stores_the_embedded_regions(s3, monkeypatch) -> None:
    """AnalyzeFunction's path (ingest): the sidecar records the regions and that they decided."""
    from smartthumb.config import Settings
    from smartthumb.ingest import build_ingestor

    etag = stored_upload(s3, monkeypatch, "marked.jpg", with_iptc())
    ingestor = build_ingestor(Settings.from_env(), analyze=analyze_image)
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "src"}, "object": {"key": "marked.jpg", "eTag": etag, "sequencer": "0A"}},
    }
    assert [r.outcome.value for r in ingestor.handle_records([record])] == ["analysed"]
    doc = json.loads(s3.get_object(Bucket="ana", Key="analysis/marked.jpg.json")["Body"].read())
    assert doc["analysis"]["regionOrigin"] == "embedded"
    assert doc["analysis"]["embeddedRegions"] == [
        {"box": [SPOT.x, SPOT.y, SPOT.w, SPOT.h], "kind": "subject", "scheme": "iptc", "name": "Subject"}
    ]
    assert doc["roi"] == {"x": SPOT.x, "y": SPOT.y, "w": SPOT.w, "h": SPOT.h}
    assert all(Box(**v["boundingBox"]).contains(SPOT) for v in doc["azure"]["smartCropsResult"]["values"])

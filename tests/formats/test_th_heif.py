"""HEIC and AVIF sources (generated here) through /th, c=7, the analysis and AnalyzeFunction; orientation honoured."""

from __future__ import annotations

import copy
import json
from urllib.parse import quote_plus

import pytest
from PIL import Image

from smartthumb.config import Settings
from tests.conftest import EVENTS, SAMPLES, as_stored
from tests.formats.conftest import PREFIX, SOURCE, Th, body_of, image_of
from tests.formats.sources import avif_bytes, heic_bytes
from tests.handlers.smartcrop_fakes import FakeAnalyzer, with_analyzer, with_ingest_analyzer

ENCODERS = {"heic": heic_bytes, "avif": avif_bytes}


def quadrants(size: tuple[int, int] = (160, 120)) -> Image.Image:
    """Upright: red top-left quarter, green top-right, on blue."""
    im = Image.new("RGB", size, (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, size[0] // 2, size[1] // 2))
    im.paste((0, 255, 0), (size[0] // 2, 0, size[0], size[1] // 2))
    return im


def near(px: tuple[int, ...], colour: tuple[int, int, int], tol: int = 60) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(px[:3], colour, strict=True))


def assert_upright(img: Image.Image) -> None:
    rgb = img.convert("RGB")
    w, h = rgb.size
    assert near(rgb.getpixel((w // 4, h // 4)), (255, 0, 0)), "red top-left"
    assert near(rgb.getpixel((3 * w // 4, h // 4)), (0, 255, 0)), "green top-right"
    assert near(rgb.getpixel((w // 2, 3 * h // 4)), (0, 0, 255)), "blue bottom"


@pytest.mark.parametrize("kind", ["heic", "avif"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_honoured(make_th, kind: str, orientation: int) -> None:
    th: Th = make_th()
    stored = as_stored(quadrants(), orientation)
    th.put(f"photo.{kind}", ENCODERS[kind](stored, orientation=orientation))
    result = th.get(f"/th?id=photo.{kind}&w=80&h=60", accept="image/png")
    img = image_of(result)
    assert img.format == "JPEG" and img.size == (80, 60)
    assert_upright(img)


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_blind_crop_and_every_output_format(make_th, kind: str) -> None:
    th: Th = make_th()
    th.put(f"wide.{kind}", ENCODERS[kind](quadrants((300, 100))))
    for accept, fmt in (("image/avif", "AVIF"), ("image/webp", "WEBP"), ("*/*", "JPEG")):
        result = th.get(f"/th?id=wide.{kind}&w=50&h=50&c=4", accept=accept)
        img = image_of(result)
        assert (img.format, img.size) == (fmt, (50, 50))
        # The centre square of 300x100 (x 100..200) straddles red|green at x=150.
        rgb = img.convert("RGB")
        assert near(rgb.getpixel((10, 10)), (255, 0, 0)) and near(rgb.getpixel((40, 10)), (0, 255, 0))


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_alpha_avif_and_heic_sources_keep_transparency(make_th, kind: str) -> None:
    th: Th = make_th()
    im = Image.new("RGBA", (100, 60), (200, 0, 0, 255))
    im.paste((0, 0, 0, 0), (50, 0, 100, 60))
    th.put(f"alpha.{kind}", ENCODERS[kind](im))
    img = image_of(th.get(f"/th?id=alpha.{kind}&w=50&h=30", accept="*/*"))
    assert img.format == "PNG"
    rgba = img.convert("RGBA")
    assert rgba.getpixel((10, 15))[3] == 255 and rgba.getpixel((40, 15))[3] == 0


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_hostile_heif_is_a_named_4xx(make_th, kind: str) -> None:
    th: Th = make_th()
    good = ENCODERS[kind](quadrants())
    th.put(f"cut.{kind}", good[: len(good) // 2])
    result = th.get(f"/th?id=cut.{kind}&w=50")
    assert result["statusCode"] == 415, body_of(result)
    assert json.loads(body_of(result))["error"]["code"] == "UnsupportedImage"
    # Over MAX_SOURCE_PIXELS from the box walk, before libheif/libavif decode anything.
    th = make_th(MAX_SOURCE_PIXELS="10000")
    th.put(f"big.{kind}", ENCODERS[kind](quadrants((200, 100))))
    result = th.get(f"/th?id=big.{kind}&w=50")
    assert result["statusCode"] == 413 and json.loads(body_of(result))["error"]["code"] == "SourceTooLarge"


def block(kind: str) -> bytes:
    """600x200 white with a red block at the right (blind ratio misses it)."""
    im = Image.new("RGB", (600, 200), "white")
    im.paste((220, 0, 0), (480, 60, 560, 140))
    return ENCODERS[kind](im)


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_c7_on_heic_and_avif(make_th, s3, kind: str) -> None:
    fake = FakeAnalyzer(roi=(0.8, 0.3, 0.13, 0.4))  # the red block, as a model would find it
    s3.create_bucket(Bucket="formats-analysis")
    th: Th = make_th(ANALYSIS_BUCKET="formats-analysis")
    with_analyzer(th.fn, fake)
    th.put(f"block.{kind}", block(kind))
    smart = th.get(f"/th?id=block.{kind}&w=100&h=200&c=7", accept="image/png")
    assert smart["headers"]["X-Smartthumb-Region"] == "computed"
    rgb = image_of(smart).convert("RGB")
    r, g, b = rgb.getpixel((50, 100))
    assert r > 180 and g < 60 and b < 60
    assert len(fake.calls) == 1


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_analysis_decodes_heic_and_avif_upright(kind: str) -> None:
    from smartthumb.analysis.analyzer import decode_for_analysis, placeholder_of

    data = ENCODERS[kind](as_stored(quadrants(), 6), orientation=6)
    decoded = decode_for_analysis(data, Settings())
    assert (decoded.size.width, decoded.size.height) == (160, 120)
    assert_upright(Image.fromarray(decoded.rgb))
    colour = placeholder_of(decoded.rgb)["color"]  # blue is half the picture
    assert near(tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)), (0, 0, 255), 30)


def put_event(key: str, etag: str, size: int) -> dict:
    event = copy.deepcopy(json.loads((EVENTS / "analyze_s3_put.json").read_text()))
    event["Records"][0]["s3"]["bucket"]["name"] = SOURCE
    event["Records"][0]["s3"]["object"] = {
        "key": quote_plus(key, safe="/"),
        "eTag": etag,
        "size": size,
        "sequencer": "0A",
    }
    return event


@pytest.fixture
def analyze_env(s3, monkeypatch, no_model_preload):
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket="formats-analysis")
    monkeypatch.setenv("SOURCE_BUCKET", SOURCE)
    monkeypatch.setenv("SOURCE_PREFIX", PREFIX)
    monkeypatch.setenv("ANALYSIS_BUCKET", "formats-analysis")
    monkeypatch.setenv("ANALYSIS_PREFIX", "analysis/")
    return s3


def sidecar(s3, key: str) -> dict:
    return json.loads(s3.get_object(Bucket="formats-analysis", Key=f"analysis/{key}.json")["Body"].read())


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_analyze_function_on_heic_and_avif_uploads(analyze_env, function_loader, lambda_context, kind: str) -> None:
    s3 = analyze_env
    fn = with_ingest_analyzer(function_loader("analyze"), FakeAnalyzer())
    data = ENCODERS[kind](as_stored(quadrants(), 8), orientation=8)
    key = f"{PREFIX}phone.{kind}"
    etag = s3.put_object(Bucket=SOURCE, Key=key, Body=data)["ETag"].strip('"')
    result = fn.handler(put_event(key, etag, len(data)), lambda_context)
    assert result["outcomes"] == ["analysed"]
    doc = sidecar(s3, key)
    assert doc["status"] == "ok"
    assert doc["azure"]["metadata"] == {"width": 160, "height": 120}  # oriented size


@pytest.mark.model
@pytest.mark.slow
def test_real_analysis_of_a_heic_photo(s3, monkeypatch, function_loader, lambda_context) -> None:
    """The models on a HEIC phone photo (the astronaut sample re-encoded): a face, a placeholder."""
    s3.create_bucket(Bucket=SOURCE)
    s3.create_bucket(Bucket="formats-analysis")
    for name, value in (("SOURCE_BUCKET", SOURCE), ("SOURCE_PREFIX", PREFIX), ("ANALYSIS_BUCKET", "formats-analysis")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ANALYSIS_PREFIX", "analysis/")
    fn = function_loader("analyze")
    data = heic_bytes(Image.open(SAMPLES / "astronaut.jpg").convert("RGB"))
    key = f"{PREFIX}astronaut.heic"
    etag = s3.put_object(Bucket=SOURCE, Key=key, Body=data)["ETag"].strip('"')
    result = fn.handler(put_event(key, etag, len(data)), lambda_context)
    assert result["outcomes"] == ["analysed"]
    doc = sidecar(s3, key)
    assert len(doc["faces"]) >= 1
    assert doc["analysis"]["placeholder"]["blurhash"] and doc["analysis"]["placeholder"]["color"].startswith("#")


def test_cli_renders_a_heic_file_to_avif(tmp_path) -> None:
    from smartthumb.cli import main

    source = tmp_path / "phone.heic"
    source.write_bytes(heic_bytes(as_stored(quadrants(), 6), orientation=6))
    out = tmp_path / "thumb.avif"
    assert main(["render", str(source), "w=80&h=60", "-o", str(out)]) == 0
    img = Image.open(out)
    assert img.format == "AVIF" and img.size == (80, 60)
    assert_upright(img)

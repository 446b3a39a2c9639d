"""Every format Pillow can write, in every mode it writes, through every door: an answer or a named error.

The corpus (``corpus.py``) holds the hostile files one by one; this is the
breadth a user's bucket has: odd modes (CMYK, LAB, HSV, 16-bit, float,
premultiplied) and formats the service does not serve (DDS, ICNS, JPEG 2000,
PDF, ...). Through ``GET /th`` each must be a 200 with a decodable body when
served, else 415 ``UnsupportedImage``; through the Azure-compatible endpoint
a 200 with a box inside the image, else a 400 ``InvalidImageFormat``; through
the AnalyzeFunction an analysis sidecar, else a recorded permanent failure
(an error sidecar with the 415). Never a 500, never an exception.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from smartthumb.local_server import http_api_event
from tests.conftest import FakeLambdaContext
from tests.hardening.conftest import BUCKET, PREFIX, body_image, error_of, shared_function, two_buckets
from tests.hardening.corpus import HARDENING_ENV
from tests.hardening.test_hostile_uploads import ANALYSIS_BUCKET, ANALYZE, _azure_body, _put_event

#: Formats /th serves (MPO is served as JPEG; AVIF and HEIF through their openers).
SERVED = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "TIFF", "BMP", "AVIF", "HEIF")
REFUSED = ("DDS", "DIB", "ICNS", "ICO", "IM", "JPEG2000", "MSP", "PCX", "PDF", "PPM", "QOI", "SGI", "SPIDER", "TGA")
MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
MODES += ("I", "I;16", "F")
SIZES = ((1, 1), (1, 300), (257, 129))
QUERIES = ("w=64&h=64&p=0", "w=30&h=50&c=4", "h=40")
#: Azure's own request limit (an ICNS file with every icon size is larger: InvalidImageSize before its format).
AZURE_MAX_BODY_BYTES = 4 * 1024 * 1024


def _image(mode: str, size: tuple[int, int]) -> Image.Image:
    pixels = np.random.default_rng(7).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    rgb = Image.fromarray(pixels)
    if mode in ("La", "RGBa"):
        return rgb.convert("RGBA").convert(mode)
    if mode == "I;16":
        return rgb.convert("L").convert("I").convert(mode)
    return rgb.convert(mode)


def _files(fmt: str, sizes: tuple[tuple[int, int], ...] = SIZES) -> list[tuple[str, bytes]]:
    """(label, bytes) for every mode and size Pillow saves as ``fmt``."""
    if fmt == "HEIF":
        import pillow_heif  # dev dependency: the HEIF encoder (the layer's pi-heif only decodes)

        pillow_heif.register_heif_opener()
    out = []
    for mode in MODES:
        for size in sizes:
            buf = io.BytesIO()
            try:
                _image(mode, size).save(buf, fmt)
            except (OSError, ValueError, KeyError, TypeError):
                continue  # Pillow cannot write this mode in this format
            out.append((f"{mode}-{size[0]}x{size[1]}", buf.getvalue()))
    return out


@pytest.fixture(scope="module")
def fn():
    with shared_function(**HARDENING_ENV) as shared:
        yield shared


@pytest.mark.parametrize("fmt", SERVED + REFUSED)
def test_every_mode_of_every_writable_format(fn, fmt: str) -> None:
    files = _files(fmt)
    assert files, f"Pillow wrote no {fmt} file: the matrix would test nothing"
    for label, data in files:
        image_id = f"matrix-{fmt}-{label}".replace(";", "_")
        fn.put(image_id, data)
        for query in QUERIES:
            result = fn.get(f"/th?id={image_id}&{query}")
            where = (fmt, label, query, result.get("body", "")[:200])
            if fmt in SERVED:
                assert result["statusCode"] == 200, where
                body_image(result)  # decodes completely
            else:
                assert result["statusCode"] == 415, where
                assert error_of(result)["code"] == "UnsupportedImage", where


@pytest.fixture
def analysis_env(s3, monkeypatch):
    env = {**HARDENING_ENV, "SOURCE_PREFIX": PREFIX, "AZURE_MAX_BODY_BYTES": str(AZURE_MAX_BODY_BYTES)}
    two_buckets(s3, monkeypatch, BUCKET, ANALYSIS_BUCKET, **env)
    return s3


def _one_size() -> list[tuple[str, str, bytes]]:
    """(format, label, bytes): every writable mode of every format at 257x129 (the models run on each)."""
    return [(fmt, label, data) for fmt in SERVED + REFUSED for label, data in _files(fmt, ((257, 129),))]


@pytest.mark.slow
@pytest.mark.model
def test_every_mode_of_every_writable_format_through_the_analysis_doors(analysis_env, function_loader) -> None:
    thumbnail, analyze, ctx = function_loader("thumbnail"), function_loader("analyze"), FakeLambdaContext()
    files = _one_size()
    assert {fmt for fmt, _, _ in files} == set(SERVED + REFUSED)
    for n, (fmt, label, data) in enumerate(files):
        event = http_api_event("POST", ANALYZE + "&smartcrops-aspect-ratios=0.75,1.5", {}, data)
        result = thumbnail.handler(event, ctx)
        body = _azure_body(result)
        where = (fmt, label, result["statusCode"], body)
        if fmt in SERVED:
            assert result["statusCode"] == 200, where
            assert (body["metadata"]["width"], body["metadata"]["height"]) == (257, 129), where
            for value in body["smartCropsResult"]["values"]:
                box = value["boundingBox"]
                assert box["w"] > 0 and box["h"] > 0 and box["x"] + box["w"] <= 257 and box["y"] + box["h"] <= 129
        else:
            assert result["statusCode"] == 400, where
            inner = "InvalidImageSize" if len(data) > AZURE_MAX_BODY_BYTES else "InvalidImageFormat"
            assert body["error"]["innererror"]["code"] == inner, where

        key = f"{PREFIX}matrix-{fmt}-{label}".replace(";", "_")
        etag = analysis_env.put_object(Bucket=BUCKET, Key=key, Body=data)["ETag"].strip('"')
        outcome = analyze.handler(_put_event(key, etag, len(data), f"00{n:016X}"), ctx)["outcomes"]
        doc = json.loads(analysis_env.get_object(Bucket=ANALYSIS_BUCKET, Key=f"analysis/{key}.json")["Body"].read())
        if fmt in SERVED:
            assert outcome == ["analysed"] and doc["status"] != "error", (fmt, label, outcome, doc.get("error"))
        else:
            assert outcome == ["failed-permanently"], (fmt, label, outcome)
            too_big = len(data) > int(HARDENING_ENV["MAX_SOURCE_BYTES"])
            assert doc["status"] == "error", (fmt, label, doc)
            assert doc["error"]["status"] == (413 if too_big else 415), (fmt, label, doc["error"])

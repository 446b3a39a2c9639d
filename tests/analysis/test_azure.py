"""Azure conventions: ratio parsing, the error body, the result shape, round trips."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartthumb.analysis.analyzer import Analysis, Face
from smartthumb.azure.contract import AzureError, smart_crops_answer
from smartthumb.azure.request import parse_aspect_ratios
from smartthumb.config import Settings
from smartthumb.geometry import Box
from tests.conftest import AZURE_RANGE_ERROR


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, []),
        ("", []),
        ("  ", []),
        ("1.5", [1.5]),
        ("0.75,1.0,1.8", [0.75, 1.0, 1.8]),
        (" 0.75 , 1.33", [0.75, 1.33]),
        ("1,1", [1.0, 1.0]),
        (".8", [0.8]),
        ("1.", [1.0]),
        ("1.800", [1.8]),
    ],
)
def test_valid_ratios(raw: str | None, expected: list[float]) -> None:
    assert parse_aspect_ratios(raw) == expected


@pytest.mark.parametrize("raw", ["0.74", "1.81", "2", "0", "-1", "0.7499", "1.8000001", "99999999999"])
def test_out_of_range_gives_azures_exact_body(raw: str) -> None:
    with pytest.raises(AzureError) as info:
        parse_aspect_ratios(raw)
    err = info.value
    assert err.status == 400
    assert err.code == "InvalidRequest"
    assert err.inner_code == "BadArgument"
    assert err.to_body() == AZURE_RANGE_ERROR


@pytest.mark.parametrize("raw", ["abc", "1,,1.5", "1.5,", "nan", "inf", "1e0", "1.5x", "1 .5", "0x1"])
def test_malformed_gives_a_bad_argument(raw: str) -> None:
    with pytest.raises(AzureError) as info:
        parse_aspect_ratios(raw)
    body = info.value.to_body()
    assert body["error"]["code"] == "InvalidRequest"
    assert body["error"]["message"] == "Analyze query is invalid."
    assert body["error"]["innererror"]["code"] == "BadArgument"
    assert set(body["error"]) == {"code", "message", "innererror"}


def test_error_body_is_json_serialisable() -> None:
    assert json.loads(json.dumps(AzureError().to_body())) == AZURE_RANGE_ERROR


LANDMARKS = ((1300.5, 640.0), (1400.0, 640.0), (1350.0, 700.0), (1310.0, 760.0), (1390.0, 760.0))


def _analysis() -> Analysis:
    return Analysis(
        width=4000,
        height=3000,
        faces=(Face(Box(1200, 500, 300, 360), 0.93, LANDMARKS),),
        roi=Box(1125, 320, 450, 612),
        crops=((0.75, Box(775, 0, 2250, 3000)), (1.5, Box(0, 0, 4000, 2667))),
        model_version="test-1",
    )


def test_to_azure_exact_shape() -> None:
    assert smart_crops_answer(_analysis()) == {
        "modelVersion": "test-1",
        "metadata": {"width": 4000, "height": 3000},
        "smartCropsResult": {
            "values": [
                {"aspectRatio": 0.75, "boundingBox": {"x": 775, "y": 0, "w": 2250, "h": 3000}},
                {"aspectRatio": 1.5, "boundingBox": {"x": 0, "y": 0, "w": 4000, "h": 2667}},
            ]
        },
    }


def test_to_dict_round_trips_through_json() -> None:
    a = _analysis()
    assert Analysis.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    empty = Analysis(width=10, height=20, faces=(), roi=None, crops=((1.0, Box(0, 5, 10, 10)),), model_version="m")
    assert Analysis.from_dict(json.loads(json.dumps(empty.to_dict()))) == empty


boxes_st = st.builds(Box, st.integers(0, 5000), st.integers(0, 5000), st.integers(1, 5000), st.integers(1, 5000))


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 10000),
    st.integers(1, 10000),
    st.lists(
        st.builds(
            Face,
            boxes_st,
            st.floats(0, 1, allow_nan=False),
            st.lists(st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4)), min_size=5, max_size=5).map(tuple),
        ),
        max_size=3,
    ),
    st.none() | boxes_st,
    st.lists(st.tuples(st.floats(0.5, 2.0), boxes_st), min_size=1, max_size=5),
)
def test_round_trip_property(width: int, height: int, faces: list, roi: Box | None, crops: list) -> None:
    a = Analysis(width, height, tuple(faces), roi, tuple(crops), "v")
    assert Analysis.from_dict(json.loads(json.dumps(a.to_dict()))) == a


def test_pure_modules_do_not_import_onnxruntime() -> None:
    code = (
        "import sys\n"
        "import smartthumb.analysis.boxes, smartthumb.azure.contract, smartthumb.analysis.analyzer\n"
        "import smartthumb.sidecars, smartthumb.azure.cli, smartthumb.analysis.models\n"
        "print('onnxruntime' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_analysis_cache_import_is_light() -> None:
    """The /th handler constructs the cache at start; numpy and onnxruntime wait for c=7."""
    code = (
        "import sys\n"
        "from smartthumb.sidecars import AnalysisCache, NullSidecarStore\n"
        "from smartthumb.config import Settings\n"
        "AnalysisCache(Settings(), NullSidecarStore())\n"
        "print(sorted(m for m in ('numpy', 'onnxruntime') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------ request parsing, without events


def test_image_input_reads_bytes_base64_and_url_bodies() -> None:
    from smartthumb.azure.request import ImageInput, image_input

    settings = Settings(source_bucket="photos", source_prefix="img/", azure_max_body_bytes=100)
    assert image_input("abc", False, "application/octet-stream", settings) == ImageInput(data=b"abc")
    assert image_input("YWJj", True, None, settings) == ImageInput(data=b"abc")
    url = '{"url": "s3://photos/img/a%20b.jpg"}'
    assert image_input(url, False, "application/json; charset=utf-8", settings) == ImageInput(image_id="a b.jpg")


@pytest.mark.parametrize(
    ("body", "is_base64", "content_type", "inner"),
    [
        ("not base64!", True, None, "InvalidImageFormat"),
        ("x" * 101, False, None, "InvalidImageSize"),
        ("", False, None, "InvalidImageSize"),
        ('{"url": "https://example.com/a.jpg"}', False, "application/json", "InvalidImageUrl"),
        ('{"url": "s3://photos/elsewhere/a.jpg"}', False, "application/json", "InvalidImageUrl"),
        ("{not json", False, "application/json", "InvalidImageUrl"),
    ],
)
def test_image_input_refusals(body: str, is_base64: bool, content_type: str | None, inner: str) -> None:
    from smartthumb.azure.request import image_input

    settings = Settings(source_bucket="photos", source_prefix="img/", azure_max_body_bytes=100)
    with pytest.raises(AzureError) as info:
        image_input(body, is_base64, content_type, settings)
    assert (info.value.status, info.value.inner_code) == (400, inner)


def test_errors_map_by_type_and_recorded_errors_by_their_code() -> None:
    from smartthumb.azure.contract import from_recorded_error, from_thumb_error
    from smartthumb.errors import SourceNotFound, SourceTooLarge, SourceUnavailable, UnsupportedImage

    assert from_thumb_error(UnsupportedImage("x")).inner_code == "InvalidImageFormat"
    assert from_thumb_error(SourceTooLarge("x")).inner_code == "InvalidImageSize"
    assert from_thumb_error(SourceNotFound("x")).status == 404
    assert from_thumb_error(SourceUnavailable("x")).code == "ServiceUnavailable"
    recorded = from_recorded_error({"status": 413, "code": "SourceTooLarge", "message": "too big"})
    assert (recorded.status, recorded.inner_code, recorded.inner_message) == (400, "InvalidImageSize", "too big")

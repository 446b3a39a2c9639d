"""The AnalysisCache as the c=7 hook with the real models, and the ``analyze`` subcommand."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smartthumb.analysis.analyzer import analyze_image
from smartthumb.analysis.models import ModelUnavailable
from smartthumb.azure import cli
from smartthumb.azure.contract import smart_crops_answer
from smartthumb.config import Settings
from smartthumb.geometry import Box, Size, scale_box
from smartthumb.sidecars import AnalysisCache, NullSidecarStore
from smartthumb.sources import SourceObject
from tests.analysis.images import SAMPLES, encode, sample_bytes


def _source(name: str, data: bytes | None = None) -> SourceObject:
    return SourceObject(key=name, data=data if data is not None else sample_bytes(name), etag="e1")


def _cache(settings: Settings, analyze=analyze_image) -> AnalysisCache:
    """The c=7 cache as ``smartthumb render`` builds it: no store, the real analyzer."""
    return AnalysisCache(settings, NullSidecarStore(), analyze)


@pytest.mark.model
def test_region_is_computed_and_memoised(settings: Settings) -> None:
    calls: list[object] = []

    def counted(data: bytes, ratios: object, s: Settings) -> object:
        calls.append(ratios)
        return analyze_image(data, ratios, s)

    cache = _cache(settings, counted)
    hint = cache.region_for(_source("astronaut.jpg"), Size(512, 512), 20000)
    assert hint.origin == "computed"
    assert hint.box is not None and hint.box.contains(Box(185, 75, 80, 95))  # the face, give or take
    # Same key and etag, other rendition size: remembered, scaled to that size, not analysed again.
    again = cache.region_for(_source("astronaut.jpg"), Size(256, 256), 20000)
    assert again.origin == "sidecar"
    assert again.box == scale_box(hint.box, Size(512, 512), Size(256, 256))
    assert len(calls) == 1


@pytest.mark.model
@pytest.mark.slow
def test_nothing_salient_is_none(settings: Settings) -> None:
    flat = encode(np.full((300, 400, 3), 128, np.uint8), "PNG")
    hint = _cache(settings).region_for(_source("flat.png", flat), Size(400, 300), 20000)
    assert hint.box is None and hint.origin == "computed"


@pytest.mark.parametrize("error", [ModelUnavailable("no model"), RuntimeError("onnxruntime blew up")])
def test_model_trouble_falls_back(settings: Settings, error: Exception) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise error

    hint = _cache(settings, broken).region_for(_source("coffee.jpg"), Size(600, 400), 5000)
    assert hint.box is None and hint.origin == "fallback"


def test_no_budget_falls_back_without_analysing(settings: Settings) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not analyse")

    cache = _cache(settings, fail)
    hint = cache.region_for(_source("coffee.jpg"), Size(600, 400), 0)
    assert hint.box is None and hint.origin == "fallback"
    assert cache.analysis_calls == 0


def test_scale_box_stays_inside() -> None:
    assert scale_box(Box(100, 50, 200, 100), Size(400, 200), Size(200, 100)) == Box(50, 25, 100, 50)
    assert scale_box(Box(399, 199, 1, 1), Size(400, 200), Size(40, 20)).inside(Size(40, 20))


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="smartthumb")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.model
def test_cli_prints_the_azure_json(capsys: pytest.CaptureFixture[str], settings: Settings) -> None:
    path = SAMPLES / "astronaut.jpg"
    assert _run(["analyze", str(path), "--ratios", "0.75,1.5"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == smart_crops_answer(analyze_image(path.read_bytes(), [0.75, 1.5], settings))


def test_cli_bad_ratio_prints_azures_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["analyze", str(SAMPLES / "coffee.jpg"), "--ratios", "0.5"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert json.loads(out.err)["error"]["innererror"] == {
        "code": "BadArgument",
        "message": "'smartcrops-aspect-ratios' aspect ratio is not in allowed range [0.75 to 1.8]",
    }


def test_cli_bad_image_and_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    assert _run(["analyze", str(junk)]) == 2
    assert json.loads(capsys.readouterr().err)["error"]["code"] == "UnsupportedImage"
    assert _run(["analyze", str(tmp_path / "missing.jpg")]) == 1


@pytest.mark.model
def test_cli_draw(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "drawn.png"
    assert _run(["analyze", str(SAMPLES / "astronaut.jpg"), "--ratios", "1.5", "--draw", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    drawn = np.asarray(Image.open(out).convert("RGB"))
    assert drawn.shape == (512, 512, 3)
    # The face outline is drawn in pure green along the top of the detected face.
    face = analyze_image((SAMPLES / "astronaut.jpg").read_bytes(), [1.5], Settings()).faces[0].box
    edge = drawn[face.y, face.x + 5 : face.right - 5]
    assert np.mean(np.all(edge == (0, 255, 0), axis=-1)) > 0.8
    assert result["smartCropsResult"]["values"][0]["aspectRatio"] == 1.5


@pytest.mark.model
def test_draw_a_sliver_of_an_image(tmp_path: Path) -> None:
    """Crop boxes a pixel or two wide (a 2x3000 image, several ratios): the inset outlines used to
    turn inside out and ImageDraw raised; each box is drawn within its own pixels."""
    from smartthumb.analysis import draw
    from tests.conftest import image_bytes

    data = image_bytes(Image.new("RGB", (2, 3000), (40, 90, 160)), "PNG")
    analysis = analyze_image(data, [0.75, 1.0, 1.5, 1.8], Settings())
    drawn = Image.open(io.BytesIO(draw.render(data, analysis)))
    assert drawn.size == (2, 3000)

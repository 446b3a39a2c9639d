"""OnnxRegionProvider (the c=7 hook) and the ``analyze`` subcommand."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smartthumb.analysis import cli, provider
from smartthumb.analysis.analyzer import analyze_image
from smartthumb.analysis.models import ModelUnavailable
from smartthumb.config import Settings
from smartthumb.geometry import Box, Size, scale_box
from smartthumb.sources import SourceObject
from tests.analysis.images import SAMPLES, encode, sample_bytes


def _source(name: str, data: bytes | None = None) -> SourceObject:
    return SourceObject(key=name, data=data if data is not None else sample_bytes(name), etag="e1")


@pytest.mark.model
def test_region_is_computed_and_memoised(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    p = provider.OnnxRegionProvider(settings)
    hint = p.region_for(_source("astronaut.jpg"), Size(512, 512), 5000)
    assert hint.origin == "computed"
    assert hint.box is not None and hint.box.contains(Box(185, 75, 80, 95))  # the face, give or take

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("analysed twice")

    monkeypatch.setattr(provider, "analyze_image", fail)
    # Same key and etag, other rendition size: memoised, scaled to that size.
    again = p.region_for(_source("astronaut.jpg"), Size(256, 256), 5000)
    assert again.origin == "computed"
    assert again.box == scale_box(hint.box, Size(512, 512), Size(256, 256))


@pytest.mark.model
@pytest.mark.slow
def test_nothing_salient_is_none(settings: Settings) -> None:
    flat = encode(np.full((300, 400, 3), 128, np.uint8), "PNG")
    hint = provider.OnnxRegionProvider(settings).region_for(_source("flat.png", flat), Size(400, 300), 5000)
    assert hint.box is None and hint.origin == "none"


@pytest.mark.parametrize("error", [ModelUnavailable("no model"), RuntimeError("onnxruntime blew up")])
def test_model_trouble_falls_back(settings: Settings, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(provider, "analyze_image", broken)
    hint = provider.OnnxRegionProvider(settings).region_for(_source("coffee.jpg"), Size(600, 400), 5000)
    assert hint.box is None and hint.origin == "fallback"


def test_budget_too_small_falls_back_without_analysing(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not analyse")

    monkeypatch.setattr(provider, "analyze_image", fail)
    hint = provider.OnnxRegionProvider(settings).region_for(_source("coffee.jpg"), Size(600, 400), 50)
    assert hint.box is None and hint.origin == "fallback"


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
    assert json.loads(out.out) == analyze_image(path.read_bytes(), [0.75, 1.5], settings).to_azure()


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

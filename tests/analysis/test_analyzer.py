"""End to end: bytes -> Analysis, orientation, limits, the faces-first shortcut."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from smartthumb.analysis import analyzer, saliency
from smartthumb.analysis.analyzer import analyze_image, decode_for_analysis
from smartthumb.azure.contract import smart_crops_answer
from smartthumb.config import Settings
from smartthumb.errors import SourceTooLarge, UnsupportedImage
from smartthumb.geometry import Box
from tests.analysis.images import SAMPLES, encode, sample_bytes, skimage_data

RATIOS = [0.75, 1.0, 1.5, 1.78, 1.8]


def _ratio_ok(box: Box, width: int, height: int, ratio: float) -> bool:
    return (box.w == width and abs(box.h - box.w / ratio) <= 1) or (box.h == height and abs(box.w - box.h * ratio) <= 1)


def test_decode_reduces_and_reports_the_full_size(settings: Settings) -> None:
    big = Image.open(SAMPLES / "rocket.jpg").convert("RGB").resize((3200, 2135))
    decoded = decode_for_analysis(encode(big, quality=90), settings)
    assert (decoded.size.width, decoded.size.height) == (3200, 2135)
    assert max(decoded.rgb.shape[:2]) == 640 and decoded.rgb.shape[2] == 3
    assert decoded.rgb.dtype == np.uint8


def test_decode_applies_exif_orientation(settings: Settings) -> None:
    upright = np.zeros((300, 500, 3), np.uint8)
    upright[:50, :100] = 255  # a white block top-left when upright
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # 300 wide, 500 high
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    decoded = decode_for_analysis(encode(stored, "JPEG", exif=exif, quality=95), settings)
    assert (decoded.size.width, decoded.size.height) == (500, 300)
    assert decoded.rgb.shape[:2] == (300, 500)
    assert decoded.rgb[:40, :80].mean() > 200 and decoded.rgb[-100:, -100:].mean() < 30


def test_undecodable_bytes_are_415(settings: Settings) -> None:
    with pytest.raises(UnsupportedImage) as info:
        analyze_image(b"this is not an image", [1.0], settings)
    assert info.value.status == 415
    truncated = sample_bytes("coffee.jpg")[:2000]
    with pytest.raises(UnsupportedImage):
        decode_for_analysis(truncated, settings)


def test_limits_are_413() -> None:
    data = sample_bytes("coffee.jpg")
    with pytest.raises(SourceTooLarge):
        analyze_image(data, None, Settings(max_source_pixels=1000))
    with pytest.raises(SourceTooLarge):
        analyze_image(data, None, Settings(max_source_bytes=1000))


@pytest.mark.model
def test_astronaut_every_crop_keeps_the_face(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_saliency(*args: object, **kwargs: object) -> None:
        raise AssertionError("saliency must not run when faces decide")

    monkeypatch.setattr(saliency, "saliency_map", no_saliency)
    result = analyze_image(sample_bytes("astronaut.jpg"), RATIOS, settings)
    assert (result.width, result.height) == (512, 512)
    assert len(result.faces) == 1
    face = result.faces[0].box
    assert result.roi is not None and result.roi.contains(face)
    assert [r for r, _ in result.crops] == RATIOS
    for ratio, box in result.crops:
        assert box.contains(face), (ratio, box, face)
        assert box.inside(analyzer.Size(512, 512))
        assert _ratio_ok(box, 512, 512, ratio)


@pytest.mark.model
def test_face_off_centre_in_a_wide_jpeg(settings: Settings) -> None:
    canvas = Image.new("RGB", (3000, 1000), (90, 120, 160))
    canvas.paste(Image.open(skimage_data("astronaut.png")).convert("RGB"), (2300, 300))
    result = analyze_image(encode(canvas, quality=90), [0.75, 1.0], settings)
    assert len(result.faces) == 1
    face = result.faces[0].box
    # The face, in source pixels, is where it was pasted (the astronaut's face is at ~(224, 120)).
    cx, cy = face.center
    assert abs(cx - (2300 + 224)) <= 25 and abs(cy - (300 + 120)) <= 25
    for _ratio, box in result.crops:
        assert box.contains(face)
        assert box.h == 1000


@pytest.mark.model
@pytest.mark.slow
def test_no_face_uses_saliency(settings: Settings) -> None:
    result = analyze_image(sample_bytes("rocket.jpg"), [0.75, 1.0, 1.8], settings)
    assert result.faces == ()
    assert result.roi is not None
    # The rocket stands at about x 308-336 of 640 (see the --draw output).
    assert 290 <= result.roi.center[0] <= 350
    assert result.roi.h > 3 * result.roi.w
    for _ratio, box in result.crops:
        assert box.x <= result.roi.x and result.roi.right <= box.right


@pytest.mark.model
@pytest.mark.slow
def test_automatic_crop(settings: Settings) -> None:
    result = analyze_image(sample_bytes("astronaut.jpg"), None, settings)
    assert len(result.crops) == 1
    ratio, box = result.crops[0]
    assert 0.5 <= ratio <= 2.0
    assert _ratio_ok(box, 512, 512, ratio)
    assert box.contains(result.faces[0].box)
    values = smart_crops_answer(result)["smartCropsResult"]["values"]
    assert values == [{"aspectRatio": ratio, "boundingBox": {"x": box.x, "y": box.y, "w": box.w, "h": box.h}}]


@pytest.mark.model
@pytest.mark.slow
def test_transparent_png_is_analysed(settings: Settings) -> None:
    rgba = Image.new("RGBA", (600, 400), (0, 0, 0, 0))
    rgba.paste(Image.open(SAMPLES / "astronaut.jpg").convert("RGBA").resize((300, 300)), (280, 50))
    result = analyze_image(encode(rgba, "PNG"), [1.0], settings)
    assert (result.width, result.height) == (600, 400)
    assert len(result.faces) == 1
    assert result.crops[0][1].contains(result.faces[0].box)


def test_analysis_json_has_no_numpy_types(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Boxes are plain ints, so ``json.dumps`` works on the Azure answer."""
    import json

    from smartthumb.analysis import faces

    monkeypatch.setattr(faces, "detect_faces", lambda rgb: [faces.RawFace(10.5, 20.2, 30.0, 40.0, 0.9, ((1, 2),) * 5)])
    buf = io.BytesIO()
    Image.new("RGB", (320, 200), (10, 20, 30)).save(buf, "PNG")
    result = analyze_image(buf.getvalue(), [1.0, 1.5], settings)
    text = json.dumps(smart_crops_answer(result))
    assert '"aspectRatio": 1.5' in text
    assert result.faces[0].box == Box(10, 20, 31, 41)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_nonsense_ratios_are_a_programming_error(bad: float, monkeypatch: pytest.MonkeyPatch) -> None:
    from smartthumb.analysis import faces

    monkeypatch.setattr(faces, "detect_faces", lambda rgb: [faces.RawFace(1, 1, 5, 5, 0.9, ((1, 1),) * 5)])
    decoded = decode_for_analysis(encode(Image.new("RGB", (64, 48)), "PNG"), Settings())
    with pytest.raises(ValueError):
        analyzer.analyze_array(decoded, [1.0, bad])

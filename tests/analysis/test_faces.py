"""YuNet: decoding on synthetic outputs, and detection on real photographs.

Reference: in scikit-image's ``astronaut`` (512x512) the face spans about
x 179-270, y 65-175 (forehead to chin; checked by drawing the detection over
the photo with ``smartthumb analyze --draw``). Tolerance: the detected centre
within 12 px (13 % of the face width) of (224, 120) and the width within
70-115 px.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from smartthumb.analysis import faces
from tests.analysis.images import SAMPLES, load_rgb, skimage_data

FACE_CENTRE = (224.0, 120.0)
CENTRE_TOLERANCE = 12.0


class _Output:
    def __init__(self, name: str) -> None:
        self.name = name


def output_specs() -> list[_Output]:
    """What a fake YuNet session's ``get_outputs()`` returns: one named output per kind and stride."""
    return [_Output(f"{kind}_{s}") for s in faces.STRIDES for kind in ("cls", "obj", "bbox", "kps")]


def empty_outputs() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for stride in faces.STRIDES:
        n = (640 // stride) ** 2
        out[f"cls_{stride}"] = np.zeros((1, n, 1), np.float32)
        out[f"obj_{stride}"] = np.zeros((1, n, 1), np.float32)
        out[f"bbox_{stride}"] = np.zeros((1, n, 4), np.float32)
        out[f"kps_{stride}"] = np.zeros((1, n, 10), np.float32)
    return out


def test_decode_maps_grid_cells_to_pixels() -> None:
    out = empty_outputs()
    cell = 5 * 40 + 7  # stride 16: row 5, column 7
    out["cls_16"][0, cell, 0] = 0.81
    out["obj_16"][0, cell, 0] = 0.81
    out["bbox_16"][0, cell] = [0.5, 0.5, math.log(2), math.log(3)]
    out["kps_16"][0, cell] = [0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1]
    rows = faces.decode(out, 0.6)
    assert rows.shape == (1, 15)
    np.testing.assert_allclose(rows[0, :5], [104, 64, 32, 48, 0.81], rtol=1e-5)
    np.testing.assert_allclose(rows[0, 5:], [112, 80, 128, 80, 120, 88, 112, 96, 128, 96], rtol=1e-5)
    # Below the threshold: nothing.
    assert faces.decode(out, 0.82).shape == (0, 15)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    rows = np.array(
        [
            [10, 10, 100, 100, 0.7] + [0] * 10,
            [12, 12, 100, 100, 0.9] + [0] * 10,
            [300, 300, 50, 50, 0.65] + [0] * 10,
        ],
        dtype=np.float32,
    )
    kept = faces.nms(rows)
    assert [round(float(s), 2) for s in kept[:, 4]] == [0.9, 0.65]


def test_preprocess_letterboxes_bgr_top_left() -> None:
    rgb = np.zeros((100, 200, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    blob, scale = faces.preprocess(rgb)
    assert blob.shape == (1, 3, 640, 640) and blob.dtype == np.float32
    assert scale == pytest.approx(3.2)
    # Red lands in the last (R of BGR) plane, raw 0-255; below row 320 is padding.
    assert blob[0, 2, :320].min() == 255 and blob[0, 0, :320].max() == 0
    assert blob[0, :, 320:].max() == 0


def _centre(face: faces.RawFace) -> tuple[float, float]:
    return face.x + face.w / 2, face.y + face.h / 2


def _assert_astronaut_face(found: list[faces.RawFace], dx: float = 0.0, dy: float = 0.0, k: float = 1.0) -> None:
    assert len(found) == 1, found
    face = found[0]
    cx, cy = _centre(face)
    ex, ey = FACE_CENTRE[0] * k + dx, FACE_CENTRE[1] * k + dy
    assert math.hypot(cx - ex, cy - ey) <= CENTRE_TOLERANCE * k
    assert 70 * k <= face.w <= 115 * k
    assert face.score >= faces.SCORE_THRESHOLD
    (rex, rey), (lex, ley), (nx, ny), (rmx, rmy), (lmx, lmy) = face.landmarks
    # Anatomy: eyes above the nose above the mouth, the subject's right eye on the image's left.
    assert rex < nx < lex and max(rey, ley) < ny < min(rmy, lmy)
    assert face.x <= min(rex, rmx) and max(lex, lmx) <= face.x + face.w


@pytest.mark.model
def test_astronaut_png() -> None:
    _assert_astronaut_face(faces.detect_faces(load_rgb(skimage_data("astronaut.png"))))


@pytest.mark.model
def test_astronaut_sample_jpeg() -> None:
    _assert_astronaut_face(faces.detect_faces(load_rgb(SAMPLES / "astronaut.jpg")))


def _landscape_canvas(width: int, height: int) -> Image.Image:
    """A sky-to-ground gradient with some texture: a plausible wide background."""
    y = np.linspace(0, 1, height)[:, None, None]
    sky, ground = np.array([150, 190, 235]), np.array([70, 110, 50])
    canvas = (sky * (1 - y) + ground * y) * np.ones((1, width, 1))
    canvas += np.random.default_rng(7).normal(0, 6, canvas.shape)
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))


@pytest.mark.model
@pytest.mark.parametrize(("where", "scale"), [((1700, 150), 1.0), ((60, 400), 0.6)])
def test_astronaut_off_centre_on_a_wide_canvas(where: tuple[int, int], scale: float) -> None:
    canvas = _landscape_canvas(2400, 900)
    astronaut = Image.open(skimage_data("astronaut.png")).convert("RGB")
    if scale != 1.0:
        astronaut = astronaut.resize((round(512 * scale), round(512 * scale)), Image.Resampling.LANCZOS)
    canvas.paste(astronaut, where)
    # The analysis image is at most 640 px wide: detect there, compare in canvas pixels.
    small = canvas.resize((640, 240), Image.Resampling.BILINEAR)
    found = faces.detect_faces(np.asarray(small))
    k = 2400 / 640
    mapped = [
        faces.RawFace(f.x * k, f.y * k, f.w * k, f.h * k, f.score, tuple((px * k, py * k) for px, py in f.landmarks))
        for f in found
    ]
    _assert_astronaut_face(mapped, dx=where[0], dy=where[1], k=scale)


def _flat() -> np.ndarray:
    return np.full((480, 640, 3), (120, 140, 160), np.uint8)


def _noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)


@pytest.mark.model
@pytest.mark.parametrize(
    "image",
    [
        pytest.param(lambda: load_rgb(SAMPLES / "coffee.jpg"), id="coffee"),
        pytest.param(lambda: load_rgb(SAMPLES / "rocket.jpg"), id="rocket"),
        pytest.param(lambda: load_rgb(SAMPLES / "chelsea.jpg"), id="cat"),
        pytest.param(lambda: load_rgb(skimage_data("grass.png")), id="grass-texture"),
        pytest.param(lambda: load_rgb(skimage_data("gravel.png")), id="gravel-texture"),
        pytest.param(_flat, id="flat-colour"),
        pytest.param(_noise, id="noise"),
    ],
)
def test_no_faces_where_there_are_none(image: object) -> None:
    assert faces.detect_faces(image()) == []  # type: ignore[operator]

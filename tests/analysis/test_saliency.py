"""U²-Net-p: a clear subject on a plain background gives a region of interest covering it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from smartthumb.analysis import boxes, saliency
from smartthumb.geometry import Box, Size
from tests.analysis.images import load_rgb, skimage_data


def _coverage(roi: Box, mask: np.ndarray) -> float:
    """Fraction of the subject's pixels inside ``roi``."""
    inside = mask[roi.y : roi.bottom, roi.x : roi.right].sum()
    return float(inside) / float(mask.sum())


def _bbox(mask: np.ndarray) -> Box:
    ys, xs = np.nonzero(mask)
    return Box(int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))


def test_preprocess_is_imagenet_normalised() -> None:
    rgb = np.full((50, 80, 3), 255, np.uint8)
    blob = saliency.preprocess(rgb, 320)
    assert blob.shape == (1, 3, 320, 320)
    np.testing.assert_allclose(blob[0, :, 0, 0], (1 - saliency.MEAN) / saliency.STD, rtol=1e-5)


@pytest.mark.model
@pytest.mark.slow
def test_horse_silhouette_on_white() -> None:
    rgb = load_rgb(skimage_data("horse.png"))
    subject = rgb[..., 0] < 128  # the horse is black on white
    size = Size(rgb.shape[1], rgb.shape[0])
    roi = boxes.saliency_roi(saliency.saliency_map(rgb), size)
    assert roi is not None
    assert _coverage(roi, subject) >= 0.9
    # Not just the whole picture: no larger than the subject's box by more than 20 %.
    assert roi.area <= 1.2 * _bbox(subject).area


@pytest.mark.model
@pytest.mark.slow
def test_off_centre_ball_on_a_plain_background() -> None:
    image = Image.new("RGB", (800, 500), (200, 205, 210))
    ImageDraw.Draw(image).ellipse((520, 180, 680, 340), fill=(200, 30, 30))
    rgb = np.asarray(image)
    subject = np.all(rgb == (200, 30, 30), axis=-1)
    sal = saliency.saliency_map(rgb)
    assert sal.shape == (320, 320) and sal.min() >= 0.0 and sal.max() <= 1.0
    roi = boxes.saliency_roi(sal, Size(800, 500))
    assert roi is not None
    assert _coverage(roi, subject) >= 0.9
    assert roi.area <= 1.2 * _bbox(subject).area
    # And the square crop of the wide picture holds the ball.
    crop = boxes.crop_for_ratio(Size(800, 500), 1.0, [], sal, roi)
    assert crop.contains(_bbox(subject))


@pytest.mark.model
@pytest.mark.slow
def test_flat_picture_has_nothing_salient() -> None:
    rgb = np.full((300, 400, 3), 128, np.uint8)
    assert boxes.saliency_roi(saliency.saliency_map(rgb), Size(400, 300)) is None

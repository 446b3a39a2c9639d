"""The detail weighting of the saliency map used for placement (smartthumb.analysis.detail)."""

from __future__ import annotations

import numpy as np

from smartthumb.analysis import boxes, detail
from smartthumb.geometry import Size


def test_the_detailed_part_of_a_salient_object_weighs_most() -> None:
    rgb = np.full((200, 400, 3), 120, dtype=np.uint8)
    rgb[50:150, 240:280] = np.where((np.indices((100, 40)).sum(axis=0) % 2)[..., None], 250, 10)  # a sharp part
    sal = np.zeros((20, 40), dtype=np.float32)
    sal[5:15, 4:28] = 1.0  # one salient object, x 40-280 in the image; its right end is detailed
    weight = detail.weighted(sal, rgb)
    assert weight.shape == sal.shape and weight.dtype == np.float32
    assert weight[10, 25] > 5 * weight[10, 8] > 0  # detailed > smooth > 0 (the floor) inside the object
    assert weight[0, 0] == 0  # background stays zero
    size = Size(400, 200)
    roi = boxes.saliency_roi(sal, size)
    importance = boxes.Importance.from_map(weight, size, roi)
    box = boxes.best_box(size, Size(100, 200), [], importance, roi)
    assert box.x <= 240 and box.right >= 270  # the window goes to the detailed end

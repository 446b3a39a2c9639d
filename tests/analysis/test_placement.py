"""smartthumb.placement (pure Python, for c=7 from a sidecar) places exactly what boxes.best_box places."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartthumb import placement
from smartthumb.analysis import boxes
from smartthumb.geometry import Box, Size


def test_the_constants_are_the_same() -> None:
    for name in (
        "FACE_EXPAND_TOP",
        "FACE_EXPAND_BOTTOM",
        "FACE_EXPAND_SIDE",
        "FACE_INSIDE",
        "MASS_TOLERANCE",
        "GROUND_BAND",
    ):
        assert getattr(placement, name) == getattr(boxes, name), name


@st.composite
def scene(draw: st.DrawFn) -> tuple:
    size = Size(draw(st.integers(1, 900)), draw(st.integers(1, 900)))
    faces = []
    for _ in range(draw(st.integers(0, 4))):
        w = draw(st.integers(1, max(1, size.width // 2)))
        h = draw(st.integers(1, max(1, size.height // 2)))
        faces.append(Box(draw(st.integers(0, size.width - w)), draw(st.integers(0, size.height - h)), w, h))
    saliency = None
    if draw(st.booleans()):
        seed = draw(st.integers(0, 2**32 - 1))
        shape = (draw(st.integers(4, 24)), draw(st.integers(4, 24)))
        saliency = (np.random.default_rng(seed).random(shape) ** 3).astype(np.float32)
    return size, faces, saliency, draw(st.floats(0.3, 3.0))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene())
def test_pure_placement_equals_best_box(case: tuple) -> None:
    size, faces, saliency, ratio = case
    roi = boxes.region_of_interest(faces, saliency, size)
    importance = boxes.Importance.from_map(saliency, size, roi).compact() if saliency is not None else None
    expected = boxes.crop_for_ratio(size, ratio, faces, importance, roi)
    lists = importance.to_lists() if importance is not None else None
    assert placement.place_ratio(size, ratio, faces, lists, roi) == expected

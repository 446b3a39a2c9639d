"""smartthumb.placement (pure Python, for c=7 from a sidecar) places exactly what boxes.best_box places."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartthumb import geometry, placement
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


# ------------------------------------------------------------ pinned regions


@st.composite
def pinned_scene(draw: st.DrawFn) -> tuple:
    size = Size(draw(st.integers(2, 900)), draw(st.integers(2, 900)))
    w, h = draw(st.integers(1, size.width)), draw(st.integers(1, size.height))
    pinned = Box(draw(st.integers(0, size.width - w)), draw(st.integers(0, size.height - h)), w, h)
    faces = []
    for _ in range(draw(st.integers(0, 3))):
        fw = draw(st.integers(1, max(1, size.width // 3)))
        fh = draw(st.integers(1, max(1, size.height // 3)))
        faces.append(Box(draw(st.integers(0, size.width - fw)), draw(st.integers(0, size.height - fh)), fw, fh))
    return size, pinned, faces, draw(st.floats(0.3, 3.0))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pinned_scene())
def test_a_pinned_region_is_placed_alike_and_by_its_rule(case: tuple) -> None:
    """best_box and the pure placement give the same box for a pinned region, and it is
    the pinned rule's: the region whole when it fits (centred on it when no edge is
    in the way), else a window inside the region's span."""
    size, pinned, faces, ratio = case
    box = boxes.crop_for_ratio(size, ratio, faces, None, pinned, pinned)
    assert placement.place_ratio(size, ratio, faces, None, pinned, pinned) == box
    assert box.inside(size)
    if box.w >= pinned.w and box.h >= pinned.h:
        assert box.contains(pinned)
        assert box == geometry.place_window(Size(box.w, box.h), size, pinned)
    elif box.w < pinned.w:
        assert pinned.x <= box.x and box.right <= pinned.right
    else:
        assert pinned.y <= box.y and box.bottom <= pinned.bottom


def test_a_tall_pinned_region_keeps_its_top_and_faces_inside_it_refine() -> None:
    size = Size(400, 1000)
    person = Box(100, 100, 200, 800)  # a full-body region, taller than a 1:1 window (400 high)
    assert placement.place_ratio(size, 1.0, [], None, person, person) == Box(0, 100, 400, 400)
    # A face low in the region (someone bending down) decides instead of the top.
    face = Box(180, 600, 40, 50)
    box = placement.place_ratio(size, 1.0, [face], None, person, person)
    assert box.contains(face) and person.y <= box.y and box.bottom <= person.bottom
    # A face outside the region does not move it.
    outside = Box(20, 940, 30, 40)
    assert placement.place_ratio(size, 1.0, [outside], None, person, person) == Box(0, 100, 400, 400)
    # Wider than the window: the middle of it.
    wide = Box(0, 0, 1000, 300)
    assert placement.place_ratio(Size(1000, 300), 1.0, [], None, wide, wide) == Box(350, 0, 300, 300)

"""Pure geometry: Bing's worked examples as exact vectors, then properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartthumb.geometry import Box, CropMode, Size, blind_crop, plan_thumbnail, smart_crop

SEED = Size(474, 316)

# (w, h, c, pad) -> (content, canvas, offset): the seed's four worked examples.
SEED_VECTORS = [
    ((500, None, CropMode.NONE, True), (Size(474, 316), Size(500, 333), (13, 8))),
    ((500, None, CropMode.NONE, False), (Size(474, 316), Size(474, 316), (0, 0))),
    ((200, 200, CropMode.NONE, True), (Size(200, 134), Size(200, 200), (0, 33))),
    ((200, 200, CropMode.NONE, False), (Size(200, 134), Size(200, 134), (0, 0))),
]


@pytest.mark.parametrize(("args", "expected"), SEED_VECTORS)
def test_seed_worked_examples(args, expected):
    plan = plan_thumbnail(SEED, *args)
    assert (plan.content, plan.canvas, plan.offset) == expected
    assert plan.crop == Box(0, 0, 474, 316)


def test_seed_padding_split_in_whole_pixels():
    plan = plan_thumbnail(SEED, 500, None)
    left, top = plan.offset
    right = plan.canvas.width - plan.content.width - left
    bottom = plan.canvas.height - plan.content.height - top
    assert (left, right) == (13, 13)
    assert (top, bottom) == (8, 9)  # 8.5 px: the odd row goes to the bottom


# thumbor-style table: source, target ratio -> expected crop box.
BLIND_TABLE = [
    (Size(474, 316), 1.0, Box(79, 0, 316, 316)),  # wider: centre, cut left/right equally
    (Size(474, 316), 0.5, Box(158, 0, 158, 316)),
    (Size(474, 316), 2.0, Box(0, 0, 474, 237)),  # taller than 2:1: keep the top
    (Size(300, 600), 1.0, Box(0, 0, 300, 300)),  # taller: keep the top, cut the bottom
    (Size(300, 600), 0.5, Box(0, 0, 300, 600)),  # same ratio: whole image
    (Size(101, 100), 1.0, Box(0, 0, 100, 100)),  # one pixel to cut: the right one goes
]


@pytest.mark.parametrize(("src", "ratio", "box"), BLIND_TABLE)
def test_blind_ratio_table(src, ratio, box):
    assert blind_crop(src, ratio) == box


def test_smart_ratio_centres_on_region_and_stays_inside():
    src = Size(1000, 500)
    # Region near the right edge: window 500x500 centred on x=900 would overflow, so it is moved in.
    assert smart_crop(src, 1.0, Box(850, 100, 100, 100)) == Box(500, 0, 500, 500)
    assert smart_crop(src, 1.0, Box(300, 200, 100, 100)) == Box(100, 0, 500, 500)
    assert smart_crop(src, 1.0, None) == blind_crop(src, 1.0)


def test_blind_and_smart_plans_fill_the_target():
    plan = plan_thumbnail(SEED, 200, 100, CropMode.BLIND_RATIO)
    assert plan.crop == Box(0, 0, 474, 237)
    assert plan.content == plan.canvas == Size(200, 100)
    plan = plan_thumbnail(SEED, 100, 200, CropMode.SMART_RATIO, region=Box(400, 100, 50, 50))
    assert plan.crop == Box(316, 0, 158, 316)
    assert plan.content == Size(100, 200)


def test_crop_larger_than_source_is_padded_not_upscaled():
    plan = plan_thumbnail(SEED, 600, 600, CropMode.BLIND_RATIO)
    assert plan.crop == Box(79, 0, 316, 316)
    assert plan.content == Size(316, 316)
    assert plan.canvas == Size(600, 600)
    assert plan_thumbnail(SEED, 600, 600, CropMode.BLIND_RATIO, pad=False).canvas == Size(316, 316)


def test_no_size_returns_original():
    plan = plan_thumbnail(SEED, None, None)
    assert plan.content == plan.canvas == SEED and not plan.padded


def test_height_only_keeps_ratio():
    plan = plan_thumbnail(SEED, None, 158)
    assert plan.content == plan.canvas == Size(237, 158)
    up = plan_thumbnail(SEED, None, 632)
    assert up.content == SEED and up.canvas == Size(948, 632)


sizes = st.integers(min_value=1, max_value=6000)
targets = st.one_of(st.none(), st.integers(min_value=1, max_value=4096))


@settings(max_examples=400, deadline=None)
@given(
    sw=sizes,
    sh=sizes,
    w=targets,
    h=targets,
    crop=st.sampled_from(list(CropMode)),
    pad=st.booleans(),
    region=st.one_of(st.none(), st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))),
)
def test_plan_properties(sw, sh, w, h, crop, pad, region):
    src = Size(sw, sh)
    if crop is not CropMode.NONE and not (w and h):
        crop = CropMode.NONE
    roi = None
    if region is not None:
        x = int(region[0] * (sw - 1))
        y = int(region[1] * (sh - 1))
        roi = Box(x, y, max(1, int(region[2] * (sw - x))), max(1, int(region[3] * (sh - y))))
    plan = plan_thumbnail(src, w, h, crop, pad, roi)

    assert plan.crop.inside(src)
    # Never upscaled.
    assert plan.content.width <= plan.crop.w and plan.content.height <= plan.crop.h
    # Content inside the canvas; the canvas is exactly the target where both sides are given.
    ox, oy = plan.offset
    assert ox >= 0 and oy >= 0
    assert ox + plan.content.width <= plan.canvas.width and oy + plan.content.height <= plan.canvas.height
    if w:
        assert plan.canvas.width <= max(w, 1) or plan.canvas.width == plan.content.width
    if h:
        assert plan.canvas.height <= max(h, 1) or plan.canvas.height == plan.content.height
    if pad and w and h:
        assert plan.canvas == Size(w, h)
    if not pad:
        assert plan.canvas == plan.content
    # Nothing exceeds the limits asked for; a side derived from the other one
    # never exceeds the exact ratio.
    cw, ch = plan.crop.w, plan.crop.h
    limit_w = w if w else (h * cw / ch if h else 0)
    limit_h = h if h else (w * ch / cw if w else 0)
    assert plan.canvas.width <= max(limit_w + 1e-9, plan.content.width)
    assert plan.canvas.height <= max(limit_h + 1e-9, plan.content.height)
    if crop is not CropMode.NONE:
        # The crop box has the requested ratio within one pixel.
        ratio = w / h
        assert (
            abs(plan.crop.w - plan.crop.h * ratio) <= max(1.0, ratio) + 1e-9
            or abs(plan.crop.h - plan.crop.w / ratio) <= 1
        )
        assert plan.crop.w == sw or plan.crop.h == sh  # the largest such box
    else:
        # The image keeps its ratio within one pixel.
        cw, ch = plan.content.width, plan.content.height
        assert abs(cw * sh - ch * sw) <= max(sw, sh)

"""The manual region: parsing the PUT body and the CLI argument, the inside check, pinned crops."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartthumb.errors import InvalidParameter
from smartthumb.focus import (
    MAX_BODY_BYTES,
    auto_ratio,
    check_inside,
    parse_region_arg,
    parse_region_body,
    pinned_crops,
)
from smartthumb.geometry import Box, Size


def test_a_region_and_a_clear_parse() -> None:
    assert parse_region_body(b'{"region": {"x": 1, "y": 2, "w": 30, "h": 40}}') == Box(1, 2, 30, 40)
    assert parse_region_body('{"region": {"x": 1.0, "y": 2, "w": 30, "h": 40}}') == Box(1, 2, 30, 40)
    assert parse_region_body(b'{"region": null}') is None


@pytest.mark.parametrize(
    "body",
    [
        None,
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"{}",
        b'{"region": {"x": 1, "y": 2, "w": 3}}',
        b'{"region": {"x": 1, "y": 2, "w": 3, "h": 4, "z": 5}}',
        b'{"region": {"x": 1, "y": 2, "w": 3, "h": 4}, "more": 1}',
        b'{"region": {"x": 1.5, "y": 2, "w": 3, "h": 4}}',
        b'{"region": {"x": true, "y": 2, "w": 3, "h": 4}}',
        b'{"region": {"x": "1", "y": 2, "w": 3, "h": 4}}',
        b'{"region": {"x": NaN, "y": 2, "w": 3, "h": 4}}',
        b'{"region": {"x": 1e400, "y": 2, "w": 3, "h": 4}}',
        b'{"region": [1, 2, 3, 4]}',
        b'{"region": "1,2,3,4"}',
        json.dumps({"region": None, "pad": "x" * MAX_BODY_BYTES}).encode(),
        pytest.param(b'{"region": ' + b"[" * 2000 + b"]" * 2000 + b"}", id="deep-nesting"),  # past json's recursion
    ],
)
def test_malformed_bodies_are_a_named_400(body: bytes | None) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_region_body(body)
    assert info.value.status == 400
    assert info.value.param == "region"


def test_the_cli_argument() -> None:
    assert parse_region_arg("10, 20,30,40") == Box(10, 20, 30, 40)
    for bad in ("10,20,30", "a,b,c,d", "1.5,2,3,4", "", "1,2,3,4,5", "²,0,10,10", "1,①,10,10"):
        with pytest.raises(InvalidParameter):
            parse_region_arg(bad)


@pytest.mark.parametrize(
    "box",
    [Box(-1, 0, 10, 10), Box(0, -1, 10, 10), Box(0, 0, 0, 10), Box(0, 0, 10, -3), Box(95, 0, 6, 10), Box(0, 45, 5, 6)],
)
def test_a_box_outside_the_image_is_refused(box: Box) -> None:
    with pytest.raises(InvalidParameter, match="region"):
        check_inside(box, Size(100, 50))


def test_a_box_on_the_edges_is_inside() -> None:
    check_inside(Box(0, 0, 100, 50), Size(100, 50))
    check_inside(Box(99, 49, 1, 1), Size(100, 50))


@given(
    width=st.integers(20, 3000),
    height=st.integers(20, 3000),
    ratio=st.sampled_from([0.5, 0.75, 1.0, 1.33, 1.5, 1.78, 2.0]),
    data=st.data(),
)
def test_pinned_crops_keep_the_region_whenever_it_fits(width: int, height: int, ratio: float, data) -> None:
    size = Size(width, height)
    w = data.draw(st.integers(1, width))
    h = data.draw(st.integers(1, height))
    region = Box(data.draw(st.integers(0, width - w)), data.draw(st.integers(0, height - h)), w, h)
    ((r, box),) = pinned_crops(size, [ratio], region)
    assert r == ratio and box.inside(size)
    if box.w >= region.w and box.h >= region.h:
        assert box.contains(region)
    else:  # too big to keep whole: the window lies inside the region on the short side
        assert box.intersection_area(region) == min(box.w, region.w) * min(box.h, region.h)


def test_the_automatic_ratio_is_the_regions_own_clamped() -> None:
    assert auto_ratio(Box(0, 0, 300, 200)) == 1.5
    assert auto_ratio(Box(0, 0, 10, 200)) == 0.5
    assert auto_ratio(Box(0, 0, 900, 100)) == 2.0

"""``/th`` query parsing: every parameter, every refusal names its parameter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartthumb.config import Settings
from smartthumb.errors import InvalidParameter
from smartthumb.geometry import CropMode
from smartthumb.request import format_th, parse_query_string, parse_th

S = Settings(max_dimension=2000, max_dpr=3.0)


def parse(query: str):
    return parse_th(parse_query_string(query), S)


def test_all_parameters():
    req = parse("id=a/b.jpg&w=200&h=100&c=7&p=0&qlt=70&pcl=102030&pid=Api&rs=1&cdv=1&o=5&rm=2")
    assert (req.id, req.width, req.height, req.crop, req.pad, req.quality) == (
        "a/b.jpg",
        200,
        100,
        CropMode.SMART_RATIO,
        False,
        70,
    )
    assert req.pad_color == (0x10, 0x20, 0x30, 255)


def test_defaults():
    req = parse("id=x")
    assert (req.width, req.height, req.crop, req.pad, req.quality, req.dpr) == (
        None,
        None,
        CropMode.NONE,
        True,
        None,
        1.0,
    )
    assert req.pad_color == (255, 255, 255, 255)


def test_dpr_multiplies_and_is_bounded():
    req = parse("id=x&w=100&h=50&dpr=2.5")
    assert (req.width, req.height) == (250, 125)
    with pytest.raises(InvalidParameter) as err:
        parse("id=x&w=1000&dpr=3")
    assert err.value.param == "dpr"


def test_pcl_with_alpha():
    assert parse("id=x&pcl=00000080").pad_color == (0, 0, 0, 0x80)


@pytest.mark.parametrize(
    ("query", "param", "fragment"),
    [
        ("w=10", "id", "required"),
        ("id=", "id", "required"),
        ("id=../etc/passwd", "id", ".."),
        ("id=a/../../b", "id", ".."),
        ("id=/abs.jpg", "id", "start"),
        ("id=a%5Cb", "id", "backslash"),
        ("id=a%00b", "id", "control"),
        ("id=a%0d%0aX-Injected:1", "id", "control"),
        ("id=" + "a" * 1025, "id", "1024"),
        ("id=x&w=0", "w", "1 to 2000"),
        ("id=x&w=-5", "w", "1 to 2000"),
        ("id=x&w=2001", "w", "1 to 2000"),
        ("id=x&w=1e3", "w", "integer"),
        ("id=x&w=", "w", "integer"),
        ("id=x&h=abc", "h", "integer"),
        ("id=x&w=10&h=10&c=5", "c", "4"),
        ("id=x&w=10&c=7", "c", "both"),
        ("id=x&p=2", "p", "0"),
        ("id=x&qlt=0", "qlt", "1 to 100"),
        ("id=x&qlt=101", "qlt", "1 to 100"),
        ("id=x&dpr=0", "dpr", "above 0"),
        ("id=x&dpr=9", "dpr", "at most 3"),
        ("id=x&dpr=nan", "dpr", "number"),
        ("id=x&pcl=red", "pcl", "hex"),
        ("id=x&pcl=12345", "pcl", "hex"),
        ("id=x&w=1&w=2", "w", "more than once"),
        ("id=x&zoom=2", "zoom", "unknown"),
    ],
)
def test_refusals_name_the_parameter(query, param, fragment):
    with pytest.raises(InvalidParameter) as err:
        parse(query)
    assert err.value.param == param
    assert fragment in err.value.message
    assert err.value.status == 400
    assert err.value.to_body()["error"]["code"] == "InvalidParameter"


def test_round_trip():
    req = parse("id=dir/photo%20one.jpg&w=120&h=80&c=4&p=0&qlt=60&pcl=ff000080")
    assert parse(format_th(req)) == req


def test_cache_key_ignores_ignored_parameters_and_order():
    a = parse("id=x&w=100&h=100&pid=News&rs=1")
    b = parse("h=100&id=x&w=100&cdv=7")
    assert a.cache_key() == b.cache_key()
    assert a.cache_key() != parse("id=x&w=100&h=100&c=4").cache_key()


@given(
    st.dictionaries(st.sampled_from(["id", "w", "h", "c", "p", "qlt", "dpr", "pcl", "rs", "zz"]), st.text(max_size=12))
)
def test_parser_only_raises_invalid_parameter(params):
    try:
        req = parse_th(params, S)
    except InvalidParameter as exc:
        assert exc.param
        return
    for side in (req.width, req.height):
        assert side is None or 1 <= side <= S.max_dimension
    assert req.quality is None or 1 <= req.quality <= 100


def test_a_parameter_with_an_empty_name_is_named_in_the_error() -> None:
    """``/th?=&id=a.jpg``: the 400's JSON says which parameter, as for every other (it left ``param`` out)."""
    with pytest.raises(InvalidParameter) as info:
        parse_th(parse_query_string("=&id=a.jpg"), Settings())
    assert info.value.to_body()["error"]["param"] == ""

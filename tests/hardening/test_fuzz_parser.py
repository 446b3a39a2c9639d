"""Hypothesis over the ``/th`` parser, the geometry and the handler.

Only the typed 400 family may escape the parser; every plan that passes the
limit check stays inside the source and inside ``MAX_DIMENSION``; the handler
never answers 500 and never echoes a CR/LF into a header.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartthumb.config import Settings
from smartthumb.errors import InvalidParameter, OutputTooLarge
from smartthumb.geometry import Box, CropMode, Size, plan_thumbnail
from smartthumb.limits import check_plan
from smartthumb.request import IGNORED, KNOWN, MAX_ID_LENGTH, SIGNING, parse_query_string, parse_th

SETTINGS = Settings(max_dimension=4096, max_dpr=4.0)
NAMES = st.sampled_from([*KNOWN, *IGNORED, *SIGNING, "W", "id ", "", "x", "%69d", "c\x00"])
VALUES = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "",
            "0",
            "4",
            "7",
            "1",
            "00100",
            "1e3",
            "0x10",
            " 5",
            "5 ",
            "+5",
            "-0",
            "4096",
            "4097",
            "ffffff",
            "FFFFFF00",
            "ggg",
            "..",
            "../a",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "a\\b",
            "a\x00b",
            "a\r\nX: y",
            "\u202e",
            "\ud800",
            "%00",
            "%2e%2e%2f",
            "x" * 1100,
            "é" * 600,
            "1.5",
            "4.001",
            "0.001",
            "99.999",
        ]
    ),
    st.text(max_size=40),
)
# Each strategy leans towards valid values (listed more than once) so that
# whole queries often pass and the invariants on parsed requests are exercised.
VALID_ID = st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}\.jpg", fullmatch=True)
IDS = st.one_of(
    VALID_ID,
    VALID_ID,
    st.text(min_size=1, max_size=30),
    st.lists(st.sampled_from(["a", ".", "..", "", "b.jpg", "\x00", "\x7f", "\n", "\\", "é", "%2e"]), max_size=5).map(
        "/".join
    ),
    VALUES,
)
VALID_NUMBER = st.integers(1, 4096).map(str)
NUMBERS = st.one_of(VALID_NUMBER, VALID_NUMBER, st.integers(-5, 5000).map(str), VALUES)
VALID_DPR = st.floats(0.001, 4).map(lambda f: f"{f:.3f}")
DPRS = st.one_of(VALID_DPR, VALID_DPR, st.floats(0, 5).map(lambda f: f"{f:.3f}".rstrip("0").rstrip(".")), VALUES)
_VALID_TH = st.fixed_dictionaries(
    {"id": VALID_ID},
    optional={
        "w": VALID_NUMBER,
        "h": VALID_NUMBER,
        "c": st.sampled_from(["4", "7"]),
        "p": st.sampled_from(["0", "1"]),
        "qlt": st.integers(1, 100).map(str),
        "dpr": VALID_DPR,
        "pcl": st.from_regex(r"[0-9a-fA-F]{6}([0-9a-fA-F]{2})?", fullmatch=True),
    },
)
_HOSTILE = st.dictionaries(
    st.sampled_from(["id", "w", "h", "c", "p", "qlt", "dpr", "pcl"]),
    st.one_of(IDS, NUMBERS, DPRS, st.text(alphabet="0123456789abcdefABCDEFgx", max_size=9)),
    max_size=2,
)
#: A mostly valid /th query with up to two parameters replaced by hostile values.
TH_QUERIES = st.builds(lambda base, hostile: {**base, **hostile}, _VALID_TH, _HOSTILE)
RAW = st.text(alphabet=st.sampled_from("&=%+;#?/\\.x7wdhcpqltidr0123456789aAfF \r\n\x00é"), max_size=80)


def pairs_to_query(pairs: list[tuple[str, str]]) -> str:
    from urllib.parse import quote

    return "&".join(f"{quote(k, safe='')}={quote(v, safe='', errors='surrogatepass')}" for k, v in pairs)


def check_request(query: str) -> None:
    try:
        request = parse_th(parse_query_string(query), SETTINGS)
    except InvalidParameter as exc:
        assert exc.status == 400 and exc.message
        return
    for side in (request.width, request.height):
        assert side is None or 1 <= side <= SETTINGS.max_dimension
    assert request.quality is None or 1 <= request.quality <= 100
    assert 0 < request.dpr <= SETTINGS.max_dpr
    assert request.id and not request.id.startswith("/") and "\\" not in request.id
    assert ".." not in request.id.split("/") and "//" not in request.id
    assert all(ord(ch) >= 0x20 and ord(ch) != 0x7F for ch in request.id)
    assert len(request.id.encode("utf-8")) <= MAX_ID_LENGTH
    if request.crop is not CropMode.NONE:
        assert request.width and request.height


@given(st.lists(st.tuples(NAMES, VALUES), max_size=8))
@settings(max_examples=400, deadline=None)
def test_structured_queries_raise_only_invalid_parameter(pairs: list[tuple[str, str]]) -> None:
    check_request(pairs_to_query(pairs))


@given(TH_QUERIES)
@settings(max_examples=700, deadline=None)
def test_th_shaped_queries_raise_only_invalid_parameter(params: dict[str, str]) -> None:
    check_request(pairs_to_query(list(params.items())))


@given(IDS, st.sampled_from(["", "&w=100", "&w=50&h=50&c=4"]))
@settings(max_examples=1000, deadline=None)
def test_ids_cannot_escape_the_prefix(image_id: str, rest: str) -> None:
    check_request(pairs_to_query([("id", image_id)]) + rest)


@given(RAW)
@settings(max_examples=300, deadline=None)
def test_raw_query_strings_raise_only_invalid_parameter(query: str) -> None:
    check_request(query)


SIDES = st.one_of(st.integers(1, 64), st.integers(1, 60_000))


@given(
    src=st.builds(Size, SIDES, SIDES),
    width=st.none() | st.integers(1, 4096),
    height=st.none() | st.integers(1, 4096),
    crop=st.sampled_from(list(CropMode)),
    pad=st.booleans(),
    region=st.none() | st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
)
@settings(max_examples=600, deadline=None)
def test_plans_stay_inside_the_source_and_the_limits(src, width, height, crop, pad, region) -> None:
    if crop is not CropMode.NONE and (width is None or height is None):
        crop = CropMode.NONE  # the parser refuses a crop without both sides
    box = None
    if region is not None:
        x, y = int(region[0] * (src.width - 1)), int(region[1] * (src.height - 1))
        box = Box(x, y, max(1, int(region[2] * (src.width - x))), max(1, int(region[3] * (src.height - y))))
    plan = plan_thumbnail(src, width, height, crop, pad, box)
    try:
        check_plan(plan, SETTINGS)
    except OutputTooLarge:
        assert plan.canvas.width > SETTINGS.max_dimension or plan.canvas.height > SETTINGS.max_dimension
        return
    assert plan.crop.inside(src)
    assert plan.content.width <= plan.crop.w and plan.content.height <= plan.crop.h  # never upscale
    assert 1 <= plan.canvas.width <= SETTINGS.max_dimension and 1 <= plan.canvas.height <= SETTINGS.max_dimension
    ox, oy = plan.offset
    assert ox >= 0 and oy >= 0
    assert ox + plan.content.width <= plan.canvas.width and oy + plan.content.height <= plan.canvas.height
    if width is not None:
        assert plan.canvas.width <= width
    if height is not None:
        assert plan.canvas.height <= height


@given(st.lists(st.tuples(NAMES, VALUES), max_size=6), st.booleans())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_handler_never_500_and_never_splits_headers(make_fn_once, pairs, with_id) -> None:
    fn = make_fn_once
    if with_id:
        pairs = [("id", "photo.jpg"), *pairs]
    result = fn.get("/th?" + pairs_to_query(pairs))
    assert result["statusCode"] in (200, 400, 404, 413), result["body"][:300]
    for name, value in result.get("headers", {}).items():
        assert "\r" not in name + value and "\n" not in name + value
    for value in result.get("multiValueHeaders", {}).values():
        assert all("\n" not in v and "\r" not in v for v in value)


@pytest.fixture
def make_fn_once(make_fn):
    return make_fn()

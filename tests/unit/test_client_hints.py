"""Client hints: the rounding tables, the rule (which hint a URL reads) and the limits kept."""

from __future__ import annotations

import pytest

from smartthumb.client_hints import (
    DPR_HEADER,
    DPR_STEPS,
    WIDTH_HEADER,
    WIDTH_STEPS,
    Hints,
    apply,
    normalise,
    round_dpr,
    round_width,
)
from smartthumb.config import ConfigError, Settings

#: Sec-CH-DPR -> the step it rounds up to (None: no hint). Shared with the Node.js test of the function.
DPR_TABLE: dict[str | None, str | None] = {
    None: None,
    "": None,
    "1": "1",
    "1.0": "1",
    "0.5": "1",
    "1.1": "1.5",
    "1.100000023841858": "1.5",  # Chrome sends zoomed DPRs like this
    "1.5": "1.5",
    "1.75": "2",
    "2": "2",
    "2.625": "3",
    "3": "3",
    "3.5": "3",
    "12": "3",
    " 2 ": "2",
    "\t1.25\t": "1.5",
    "0": None,
    "0.000": None,
    "-1": None,
    "abc": None,
    "2e0": None,
    "Infinity": None,
    "NaN": None,
    "1.": None,
    ".5": None,
    "100": None,
    '"2"': None,
}

#: Sec-CH-Width -> the step it rounds up to.
WIDTH_TABLE: dict[str | None, str | None] = {
    None: None,
    "": None,
    "1": "64",
    "64": "64",
    "65": "128",
    "300": "320",
    "321": "480",
    "1080": "1080",
    "1081": "1280",
    "2560": "2560",
    "2561": "2560",
    "99999": "2560",
    "0": None,
    "00": None,
    "100000": None,
    "12.5": None,
    "1e3": None,
    "-5": None,
    " 500 ": "640",
}

#: (URL query names, Sec-CH-DPR, Sec-CH-Width) -> what the rule keeps.
RULE_TABLE: list[tuple[tuple[str, ...], str | None, str | None, Hints]] = [
    (("id", "w"), "2.625", "900", Hints(dpr="3", consulted=(DPR_HEADER,))),
    (("id", "h"), "2", None, Hints(dpr="2", consulted=(DPR_HEADER,))),
    (("id", "w", "h", "c"), "1", "900", Hints(consulted=(DPR_HEADER,))),  # 1 is no hint
    (("id", "w"), None, "900", Hints(consulted=(DPR_HEADER,))),
    (("id", "w", "dpr"), "3", "900", Hints()),  # an explicit dpr wins, nothing is read
    (("id", "dpr"), "3", "900", Hints()),
    (("id",), "2", "900", Hints(width="960", consulted=(WIDTH_HEADER,))),  # the width is in device pixels
    (("id",), "2", None, Hints(consulted=(WIDTH_HEADER,))),
    (("id", "qlt"), None, "bad", Hints(consulted=(WIDTH_HEADER,))),
]


@pytest.mark.parametrize(("raw", "expected"), DPR_TABLE.items())
def test_dpr_rounds_up_to_a_step(raw: str | None, expected: str | None) -> None:
    assert round_dpr(raw) == expected
    if expected is not None:
        assert round_dpr(expected) == expected  # idempotent: the function's value rounds to itself here


@pytest.mark.parametrize(("raw", "expected"), WIDTH_TABLE.items())
def test_width_rounds_up_to_a_step(raw: str | None, expected: str | None) -> None:
    assert round_width(raw) == expected
    if expected is not None:
        assert round_width(expected) == expected


def test_the_steps_are_sorted_and_few() -> None:
    assert list(DPR_STEPS) == sorted(set(DPR_STEPS)) and DPR_STEPS[0] == 1
    assert list(WIDTH_STEPS) == sorted(set(WIDTH_STEPS))
    assert len(DPR_STEPS) * len(WIDTH_STEPS) < 64  # the cache splits at most this much per URL


@pytest.mark.parametrize(("names", "dpr", "width", "expected"), RULE_TABLE)
def test_the_rule_keeps_only_the_hint_the_url_reads(
    names: tuple[str, ...], dpr: str | None, width: str | None, expected: Hints
) -> None:
    assert normalise(dict.fromkeys(names, "1"), dpr, width) == expected


def test_apply_adds_the_hinted_dpr_or_width() -> None:
    params, hints = apply({"id": "a", "w": "200"}, "2.625", None, max_dimension=4096, max_dpr=4)
    assert params == {"id": "a", "w": "200", "dpr": "3"} and hints.consulted == (DPR_HEADER,)
    params, _ = apply({"id": "a"}, None, "700", max_dimension=4096, max_dpr=4)
    assert params == {"id": "a", "w": "768"}


def test_a_width_that_is_not_ascii_digits_is_left_to_the_parser() -> None:
    """ "²" passes str.isdigit() but not int(): the hint is skipped and the query's own parse gives the 400."""
    for w in ("²", "①", "٣"):
        params, _ = apply({"id": "a", "w": w}, "2", None, max_dimension=4096, max_dpr=4)
        assert params == {"id": "a", "w": w}


def test_a_hint_never_exceeds_the_limits() -> None:
    """Over MAX_DIMENSION or MAX_DPR the next smaller step that fits (else none): never a 400."""
    params, _ = apply({"id": "a", "w": "1500"}, "3", None, max_dimension=4096, max_dpr=4)
    assert params["dpr"] == "2"  # 1500 x 3 > 4096
    params, _ = apply({"id": "a", "w": "3000"}, "3", None, max_dimension=4096, max_dpr=4)
    assert "dpr" not in params
    params, _ = apply({"id": "a", "w": "100"}, "3", None, max_dimension=4096, max_dpr=2)
    assert params["dpr"] == "2"
    params, _ = apply({"id": "a"}, None, "2000", max_dimension=1000, max_dpr=4)
    assert params["w"] == "1000"
    params, _ = apply({"id": "a", "w": "x"}, "2", None, max_dimension=4096, max_dpr=4)
    assert params == {"id": "a", "w": "x"}  # left to the parser's 400 for the URL's own bad value


@pytest.mark.parametrize(
    "signing",
    [{"SIGNING_SECRET": "k"}, {"SIGNING_SECRET_PARAM": "/smartthumb/key"}, {"SIGNING_SECRET_ARN": "arn:x"}],
)
def test_hints_are_refused_with_signing(signing: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="ENABLE_CLIENT_HINTS"):
        Settings.from_env({"ENABLE_CLIENT_HINTS": "true", **signing})
    assert not Settings.from_env(signing).enable_client_hints  # off by default: signing alone is fine


def test_hints_are_off_by_default() -> None:
    assert Settings.from_env({}).enable_client_hints is False
    assert Settings.from_env({"ENABLE_CLIENT_HINTS": "true"}).enable_client_hints is True

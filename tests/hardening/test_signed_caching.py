"""A signed answer is never cached past its URL's ``exp`` (SIGNING.md)."""

from __future__ import annotations

import re
import time

import pytest

from smartthumb.cache_policy import bounded_cache_control
from smartthumb.signing import sign_query

SECRET = "cache-test-secret"
#: A deployment that marks answers immutable (CACHE_CONTROL): the strongest policy to cut.
IMMUTABLE = "public, max-age=86400, immutable"


@pytest.mark.parametrize(
    ("value", "left", "expected"),
    [
        ("public, max-age=86400, immutable", 120, "public, max-age=120"),
        ("public, max-age=60", 120, "public, max-age=60"),
        ("public, max-age=86400, s-maxage=86400", 30, "public, max-age=30, s-maxage=30"),
        ("public, immutable", 45, "public, max-age=45"),
        ("no-store", 45, "no-store"),
        ("public, max-age=300", 0, "public, max-age=0"),
    ],
)
def test_bounded_cache_control(value: str, left: int, expected: str) -> None:
    assert bounded_cache_control(value, 1_000_000 + left, 1_000_000.0) == expected


def test_a_url_without_exp_keeps_the_policy() -> None:
    assert bounded_cache_control("public, max-age=86400, immutable", None, 0) == "public, max-age=86400, immutable"


def _max_age(header: str) -> int:
    match = re.search(r"max-age=(\d+)", header)
    assert match, header
    return int(match.group(1))


def test_signed_th_with_exp_is_not_cached_past_it(make_fn) -> None:
    fn = make_fn(SIGNING_SECRET=SECRET, CACHE_CONTROL=IMMUTABLE)
    exp = int(time.time()) + 120
    target = "/th?" + sign_query(SECRET, "id=photo.jpg&w=50", expires_at=exp)
    result = fn.get(target)
    assert result["statusCode"] == 200
    cache = result["headers"]["Cache-Control"]
    assert "immutable" not in cache
    assert _max_age(cache) <= exp - int(time.time()) + 1
    again = fn.get(target, {"accept": "*/*", "if-none-match": result["headers"]["ETag"]})
    assert again["statusCode"] == 304
    assert "immutable" not in again["headers"]["Cache-Control"]
    assert _max_age(again["headers"]["Cache-Control"]) <= 121


def test_signed_th_without_exp_keeps_the_configured_policy(make_fn) -> None:
    fn = make_fn(SIGNING_SECRET=SECRET, CACHE_CONTROL=IMMUTABLE)
    result = fn.get("/th?" + sign_query(SECRET, "id=photo.jpg&w=50"))
    assert result["statusCode"] == 200
    assert result["headers"]["Cache-Control"] == IMMUTABLE


def test_exp_means_nothing_when_signing_is_off(make_fn) -> None:
    fn = make_fn(CACHE_CONTROL=IMMUTABLE)
    result = fn.get("/th?id=photo.jpg&w=50&exp=1")
    assert result["statusCode"] == 200
    assert result["headers"]["Cache-Control"] == IMMUTABLE

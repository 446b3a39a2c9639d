"""Hypothesis over the container scan: whatever the bytes after a signature,
``structure.scan`` returns facts or raises the 413 -- never another exception,
never a hang (each walk advances by at least one byte or stops)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartthumb import structure
from smartthumb.errors import SourceTooLarge
from tests.hardening.floods import flat_lossless_webp, flood_seeds
from tests.hardening.test_format_budgets import WEBPS

SIGNATURES = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"II*\0",
    b"MM\0*",
    b"II+\0",
    b"BM",
    b"RIFF",
    *(b"RIFF\0\0\0\0WEBP" + kind for kind in (b"VP8X", b"VP8L", b"VP8 ")),
    b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
    b"\0\0\0\x18ftypavif\0\0\0\0mif1avif",
]
SEEDS = [*flood_seeds(), flat_lossless_webp(300, 200), WEBPS["animated lossless alpha"](), WEBPS["lossy alpha"]()]


def _scan(data: bytes) -> None:
    try:
        facts = structure.scan(data, 100)
    except SourceTooLarge:
        return
    assert facts.width >= 0 and facts.height >= 0 and facts.frames >= 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SIGNATURES), st.binary(max_size=600))
def test_random_bodies_after_a_signature(signature: bytes, body: bytes) -> None:
    _scan(signature + body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SEEDS))), st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), max_size=8))
def test_mutated_floods(seed: int, edits: list[tuple[int, int]]) -> None:
    data = bytearray(SEEDS[seed])
    for at, value in edits:
        data[at % len(data)] = value
    _scan(bytes(data))
    _scan(bytes(data[: len(data) // 2]))

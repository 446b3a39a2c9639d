"""Quality regression guard: the crop benchmark (tests/bench/crops) on its small subset.

Runs the real analysis (YuNet + U²-Net-p) on the subset's photos at every
benchmark ratio and compares with the numbers recorded in
``tests/bench/crops/subset.json`` (written by
``bench_crops.py --subset --methods smartthumb --json tests/bench/crops/subset.json``).
Not a timing test: it fails only when the crops or the detector get worse by
more than the margins below.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "crops"

#: Allowed drop in success rate (overall, and per category of the subset).
SUCCESS_MARGIN = 0.05
#: Allowed drop in face recall.
RECALL_MARGIN = 0.05
#: Allowed rise in false faces per image.
FALSE_MARGIN = 0.05


def _bench():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_crops", BENCH / "bench_crops.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_crops"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def measured() -> dict:
    bench = _bench()
    cases = bench.load_cases(bench.SUBSET)
    assert len(cases) == len(bench.SUBSET)
    results, _ = bench.run(cases, ["smartthumb"])
    return bench.summarise(results)["smartthumb"]


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads((BENCH / "subset.json").read_text())["smartthumb"]


@pytest.mark.model
@pytest.mark.slow
def test_success_is_not_worse_than_recorded(measured: dict, recorded: dict) -> None:
    for category, numbers in recorded.items():
        assert measured[category]["success"] >= numbers["success"] - SUCCESS_MARGIN, category


@pytest.mark.model
@pytest.mark.slow
def test_detector_is_not_worse_than_recorded(measured: dict, recorded: dict) -> None:
    got, want = measured["all"], recorded["all"]
    assert got["recall"] >= want["recall"] - RECALL_MARGIN
    assert got["false_per_image"] <= want["false_per_image"] + FALSE_MARGIN


@pytest.mark.model
@pytest.mark.slow
def test_no_false_face_steers_a_trap_crop(measured: dict) -> None:
    assert measured["trap"]["steered"] == 0
    assert measured["trap"]["false_per_image"] == 0

"""smartthumb.render's pure resample decision and the pipeline's deadline checks between steps."""

from __future__ import annotations

import importlib
import io

import pytest
from PIL import Image

from smartthumb.accept import accepted_formats
from smartthumb.config import Settings
from smartthumb.errors import TimeBudgetExceeded
from smartthumb.geometry import CropMode, plan_thumbnail
from smartthumb.limits import Deadline
from smartthumb.render import execute, open_image
from smartthumb.render.resample import (
    RESAMPLE,
    RESAMPLE_SMALL_SHRINK,
    Action,
    decide,
    draft_scale,
)

#: The module (the package's ``execute`` attribute is the function of the same name).
execute_module = importlib.import_module("smartthumb.render.execute")
SETTINGS = Settings()
WHITE = (255, 255, 255, 255)


def test_nothing_to_do_when_the_frame_is_the_output() -> None:
    decision = decide((0, 0, 100, 80), (100, 80), 1, (100, 80))
    assert decision.action is Action.NOTHING


def test_a_same_size_crop_is_cut_without_a_filter() -> None:
    decision = decide((10, 20, 60, 70), (100, 80), 1, (50, 50))
    assert decision.action is Action.CROP and decision.filter is None and decision.crop == (10, 20, 60, 70)


def test_a_drafted_frame_is_never_just_cropped() -> None:
    # Same pixel count as the crop, but decoded at 1/2: the box must be resampled.
    decision = decide((0, 0, 200, 160), (100, 80), 2, (200, 160))
    assert decision.action is Action.RESIZE and decision.box == (0, 0, 100, 80)


@pytest.mark.parametrize(
    ("crop", "out", "expected_filter", "expected_reduce"),
    [
        ((0, 0, 1000, 800), (100, 80), RESAMPLE, (5, 5)),  # 10x: reduce 5, then LANCZOS over 2x
        ((0, 0, 1000, 800), (600, 480), RESAMPLE_SMALL_SHRINK, (1, 1)),  # under 2x: BICUBIC, no reduce
        ((0, 0, 1000, 100), (100, 50), RESAMPLE, (5, 1)),  # per-axis factors
    ],
)
def test_resize_filter_and_reduce(crop, out, expected_filter, expected_reduce) -> None:
    decision = decide(crop, (1000, 800), 1, out)
    assert decision.action is Action.RESIZE
    assert decision.filter is expected_filter
    assert decision.reduce == expected_reduce


def test_the_box_is_scaled_by_the_draft_and_clipped_to_the_frame() -> None:
    decision = decide((8, 16, 808, 601), (101, 75), 8, (50, 40))
    assert decision.box == (1, 2, 101, 75)


def test_draft_scale_keeps_the_crop_at_least_the_output() -> None:
    assert draft_scale(4000, 3000, 200, 200) == 8
    assert draft_scale(4000, 3000, 1200, 800) == 2
    assert draft_scale(4000, 3000, 2100, 800) == 1


def test_accepted_formats_are_the_negotiated_ones_named() -> None:
    assert accepted_formats("image/webp,*/*") == {"WEBP"}
    assert accepted_formats("image/*,*/*") == frozenset()
    assert accepted_formats("image/webp;q=0") == frozenset()
    assert accepted_formats(None) == frozenset()


# --------------------------------------------------------------------- deadline


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def _plan(opened):
    return plan_thumbnail(opened.size, 100, 100, CropMode.BLIND_RATIO, True, None)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_expired_deadline_stops_before_decoding() -> None:
    clock = _Clock()
    deadline = Deadline(100, clock=clock)
    clock.now = 0.2  # 200 ms later: 100 ms past the deadline
    opened = open_image(_jpeg(), SETTINGS)
    with pytest.raises(TimeBudgetExceeded):
        execute(opened, _plan(opened), WHITE, deadline)
    assert opened.image._im is None  # nothing was decoded


def test_the_deadline_is_checked_between_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    ran: list[str] = []

    def timed(step):
        def run(work) -> None:
            ran.append(step.__name__)
            step(work)
            if step.__name__ == "resample":
                clock.now = 10.0  # the resample took all the time there was

        return run

    monkeypatch.setattr(execute_module, "STEPS", tuple(timed(s) for s in execute_module.STEPS))
    opened = open_image(_jpeg(), SETTINGS)
    with pytest.raises(TimeBudgetExceeded):
        execute(opened, _plan(opened), WHITE, Deadline(1000, clock=clock))
    assert ran == ["decode", "resample"]


def test_without_a_deadline_every_step_runs() -> None:
    opened = open_image(_jpeg(), SETTINGS)
    image = execute(opened, _plan(opened), WHITE)
    assert image.size == (100, 100) and image.mode == "RGB"
    assert [step.__name__ for step in execute_module.STEPS] == ["decode", "resample", "orient", "finish_mode", "pad"]

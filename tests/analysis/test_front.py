"""The front of a wide subject (analysis/front.py) and the crops it places."""

from __future__ import annotations

import numpy as np
import pytest

from smartthumb import placement
from smartthumb.analysis import boxes, front
from smartthumb.geometry import Box, Size

SIZE = Size(1000, 500)  # the saliency grid below is 100 x 50: one cell is 10 x 10 px


def animal(head: str = "right", head_detail: float = 0.6, body_detail: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """A standing quadruped in profile on a 50 x 100 grid: a body on four legs down to
    the ground (row 45), its back the highest part (a camel's humps, a rhino), and a
    head beyond the front legs at one end, lower than the back, hanging free."""
    sal = np.zeros((50, 100), dtype=np.float32)
    sal[10:30, 20:70] = 0.9  # body
    for x in (22, 30, 58, 66):
        sal[30:46, x : x + 3] = 0.9  # legs to the ground
    sal[18:30, 70:85] = 0.9  # the head
    weight = sal * body_detail
    weight[18:30, 70:85] = sal[18:30, 70:85] * head_detail
    if head == "left":
        return sal[:, ::-1].copy(), weight[:, ::-1].copy()
    return sal, weight


def snouted() -> tuple[np.ndarray, np.ndarray]:
    """The standing animal of :func:`animal` with a long, thin snout instead of a head (right)."""
    sal = np.zeros((50, 100), dtype=np.float32)
    sal[10:30, 20:70] = 0.9  # body
    for x in (22, 30, 58, 66):
        sal[30:46, x : x + 3] = 0.9  # legs
    sal[24:26, 70:80] = 0.9  # a snout: 20 cells of ~1,100
    weight = sal * 0.5
    weight[24:26, 70:80] *= 2.0
    return sal, weight


def test_the_end_that_hangs_free_is_the_front() -> None:
    sal, weight = animal("right")
    roi = boxes.saliency_roi(sal, SIZE)
    assert roi is not None
    got = front.front_of(sal >= 0.5, weight, roi, SIZE)
    assert got == front.Front("right", 850, 650)
    sal, weight = animal("left")
    roi = boxes.saliency_roi(sal, SIZE)
    assert front.front_of(sal >= 0.5, weight, roi, SIZE) == front.Front("left", 150, 650)


def test_no_front_when_both_ends_stand_or_the_hanging_end_is_smooth() -> None:
    sal, weight = animal("right")
    sal[30:46, 80:84] = 0.9  # a leg under the head too: both ends stand (a table, a car)
    roi = boxes.saliency_roi(sal, SIZE)
    assert front.front_of(sal >= 0.5, sal, roi, SIZE) is None
    # A hanging end with less detail than the subject (a tail, an animal lying behind).
    sal, weight = animal("right", head_detail=0.2, body_detail=1.0)
    roi = boxes.saliency_roi(sal, SIZE)
    assert front.front_of(sal >= 0.5, weight, roi, SIZE) is None


def test_a_head_trimmed_off_the_region_is_still_its_front() -> None:
    """A long, thin head holds too little mass to survive the region's trim; the
    overhang is measured on the subject's whole extent, so it still counts."""
    sal, weight = snouted()
    roi = boxes.saliency_roi(sal, SIZE)
    assert roi is not None and roi.right <= 740  # the trim cut the snout off the region
    assert front.front_of(sal >= 0.5, weight, roi, SIZE) == front.Front("right", 800, 600)


def test_a_subject_cut_by_one_side_of_the_frame_faces_the_other() -> None:
    sal = np.zeros((50, 100), dtype=np.float32)
    sal[10:48, 0:60] = 0.9  # a neck entering from the left edge, down to the ground band
    roi = boxes.saliency_roi(sal, SIZE)
    assert roi is not None and roi.x == 0
    assert front.front_of(sal >= 0.5, sal, roi, SIZE) == front.Front("right", 600, 600)
    # Cut by both sides (a panorama): no front.
    sal[10:48, :] = 0.9
    roi = boxes.saliency_roi(sal, SIZE)
    assert front.front_of(sal >= 0.5, sal, roi, SIZE) is None


@pytest.mark.parametrize("head", ["right", "left"])
@pytest.mark.parametrize("ratio", [0.5, 0.75, 1.0])
def test_a_wide_standing_animal_is_cropped_at_its_head(head: str, ratio: float) -> None:
    """The window ends at the head, where the top band alone would centre on the body."""
    sal, weight = animal(head)
    roi = boxes.saliency_roi(sal, SIZE)
    importance = boxes.Importance.from_map(weight, SIZE, roi, salient=sal >= 0.5).compact()
    box = boxes.crop_for_ratio(SIZE, ratio, [], importance, roi)
    head_box = Box(700, 180, 150, 120) if head == "right" else Box(150, 180, 150, 120)
    assert box.contains(head_box)
    assert (box.right == 850) if head == "right" else (box.x == 150)
    # Without the front the same map is placed by its top band, which does not reach the head.
    plain = boxes.Importance(importance.columns, importance.rows, importance.top_columns)
    assert not boxes.crop_for_ratio(SIZE, ratio, [], plain, roi).contains(head_box)
    # The sidecar form places the same box, with no numpy.
    assert placement.place_ratio(SIZE, ratio, [], importance.to_lists(), roi) == box


@pytest.mark.parametrize("ratio", [1.1, 1.15, 1.19])
def test_a_subject_wider_than_the_window_only_by_its_trimmed_head_keeps_the_head(ratio: float) -> None:
    """The region (200-740, the snout trimmed off) fits a 550-595 px window; the subject (200-800) does not.
    The window ends at the snout, where centring on the region would cut it."""
    sal, weight = snouted()
    roi = boxes.saliency_roi(sal, SIZE)
    importance = boxes.Importance.from_map(weight, SIZE, roi, salient=sal >= 0.5).compact()
    assert roi is not None and importance.front == front.Front("right", 800, 600)
    box = boxes.crop_for_ratio(SIZE, ratio, [], importance, roi)
    assert roi.w < box.w < 600
    assert box.right == 800
    assert placement.place_ratio(SIZE, ratio, [], importance.to_lists(), roi) == box
    # A sidecar of model version 6 kept no width: the region's is used, as then, and the window centres on it.
    lists = importance.to_lists()
    lists["front"] = {"side": "right", "edge": 800}
    old = boxes.Importance.from_lists(lists)
    assert old.front == front.Front("right", 800, None)
    centred = boxes.crop_for_ratio(SIZE, ratio, [], old, roi)
    assert centred.right < 800
    assert placement.place_ratio(SIZE, ratio, [], lists, roi) == centred


def test_the_front_round_trips_and_old_sidecars_have_none() -> None:
    sal, weight = animal("right")
    roi = boxes.saliency_roi(sal, SIZE)
    importance = boxes.Importance.from_map(weight, SIZE, roi, salient=sal >= 0.5).compact()
    assert importance.front is not None
    assert boxes.Importance.from_lists(importance.to_lists()) == importance
    old = {k: v for k, v in importance.to_lists().items() if k != "front"}
    assert boxes.Importance.from_lists(old).front is None
    with pytest.raises(ValueError):
        front.Front.from_dict({"side": "up", "edge": 3})

"""Animations kept: frame count, durations and loop survive; one crop box for every frame; the budget."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from smartthumb import structure
from smartthumb.animation import (
    FIRST_FRAME_CPU,
    FIRST_FRAME_FRAMES,
    FIRST_FRAME_PIXELS,
    KEPT,
    AnimationBudget,
    keep_animated,
    render_animation,
)
from smartthumb.errors import OutputTooLarge
from smartthumb.geometry import CropMode, Size, plan_thumbnail
from tests.formats.animations import DURATIONS, FRAMES, LOOP, animation_bytes, frame_colour, frames_of

WHITE = (255, 255, 255, 255)


def near(a: tuple[int, ...], b: tuple[int, ...], tol: int = 24) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("source_fmt", ["GIF", "WEBP"])
@pytest.mark.parametrize("out_fmt", ["GIF", "WEBP"])
def test_frames_durations_and_loop_are_kept(source_fmt: str, out_fmt: str) -> None:
    source = Image.open(io.BytesIO(animation_bytes(source_fmt)))
    # 160x80 -> 40x40 blind-ratio crop: the centre square (40..120) scaled by 1/2.
    plan = plan_thumbnail(Size(160, 80), 40, 40, CropMode.BLIND_RATIO)
    result = render_animation(source, plan, WHITE, out_fmt, 80, 10_000_000)
    assert result.frames == FRAMES and result.durations == DURATIONS and result.loop == LOOP

    frames, durations, loop = frames_of(result.body)
    assert Image.open(io.BytesIO(result.body)).format == out_fmt
    assert len(frames) == FRAMES
    assert tuple(durations) == DURATIONS
    assert loop == LOOP
    for i, frame in enumerate(frames):
        assert frame.size == (40, 40)
        assert near(frame.getpixel((3, 3)), frame_colour(i)), f"frame {i} colour"
        # The marker (source x 80..99, y 30..49) lands at (20..29, 15..24) in every frame: one crop box.
        assert near(frame.getpixel((24, 19)), (255, 255, 255)), f"frame {i} crop"
        assert near(frame.getpixel((14, 19)), frame_colour(i)), f"frame {i} crop"


def test_play_once_stays_play_once() -> None:
    source = Image.open(io.BytesIO(animation_bytes("GIF", loop=None)))
    plan = plan_thumbnail(Size(160, 80), 80, 40)
    gif = render_animation(source, plan, WHITE, "GIF", 80, 10_000_000)
    assert frames_of(gif.body)[2] is None  # no NETSCAPE loop extension
    source = Image.open(io.BytesIO(animation_bytes("GIF", loop=None)))
    webp = render_animation(source, plan, WHITE, "WEBP", 80, 10_000_000)
    assert frames_of(webp.body)[2] == 1  # WebP: 1 plays once (0 would be forever)


def test_padding_is_painted_on_every_frame() -> None:
    source = Image.open(io.BytesIO(animation_bytes("GIF")))
    plan = plan_thumbnail(Size(160, 80), 80, 80, CropMode.NONE, pad=True)
    assert plan.padded
    result = render_animation(source, plan, (255, 0, 0, 255), "WEBP", 90, 10_000_000)
    frames, _, _ = frames_of(result.body)
    for i, frame in enumerate(frames):
        assert frame.size == (80, 80)
        assert near(frame.getpixel((40, 2)), (255, 0, 0)), f"frame {i} padding"
        assert near(frame.getpixel((5, 40)), frame_colour(i)), f"frame {i} content"


def test_output_cap() -> None:
    source = Image.open(io.BytesIO(animation_bytes("GIF")))
    with pytest.raises(OutputTooLarge):
        render_animation(source, plan_thumbnail(Size(160, 80), 160, 80), WHITE, "GIF", 80, 1000)


def test_only_gif_or_webp() -> None:
    source = Image.open(io.BytesIO(animation_bytes("GIF")))
    with pytest.raises(ValueError, match="GIF or WebP"):
        render_animation(source, plan_thumbnail(Size(160, 80), 80, 40), WHITE, "AVIF", 80, 10_000_000)


@pytest.mark.parametrize(
    ("frames", "size", "expected"),
    [
        (1, Size(4000, 4000), None),
        (12, Size(160, 80), KEPT),
        (1000, Size(100, 100), KEPT),
        (1001, Size(10, 10), FIRST_FRAME_FRAMES),
        (50, Size(2000, 2000), KEPT),
        (51, Size(2000, 2000), FIRST_FRAME_PIXELS),
    ],
)
def test_budget(frames: int, size: Size, expected: str | None) -> None:
    assert keep_animated(frames, size, AnimationBudget(max_frames=1000, max_pixels=200_000_000)) == expected


def test_decoding_every_frame_is_held_to_the_cpu_budget() -> None:
    """50 frames of 2000x2000 GIF (the pixel limit, 41 MiB) measured 2.3 s of CPU kept animated."""
    facts = structure.Facts(format="GIF", width=2000, height=2000, frames=50)
    every = structure.animation_cpu_ms(facts, 50, 41 * 2**20)
    assert every > 2000 > structure.decode_cpu_ms(facts, 41 * 2**20)
    budget = AnimationBudget(max_frames=1000, max_pixels=200_000_000, max_cpu_ms=1000)
    assert keep_animated(50, Size(2000, 2000), budget, every) == FIRST_FRAME_CPU
    assert keep_animated(50, Size(2000, 2000), budget, 999) == KEPT
    off = AnimationBudget(max_frames=1000, max_pixels=200_000_000, max_cpu_ms=0)
    assert keep_animated(50, Size(2000, 2000), off, every) == KEPT
    assert structure.animation_cpu_ms(structure.Facts(format="PNG", width=9, height=9), 3, 100) == 0

"""Animated GIF and WebP through /th: animated out with the same frames, durations, loop and crop; the budget."""

from __future__ import annotations

import pytest

from tests.formats.animations import DURATIONS, FRAMES, LOOP, animation_bytes, frame_colour, frames_of
from tests.formats.conftest import Th, body_of, image_of


def near(a: tuple[int, ...], b: tuple[int, ...], tol: int = 24) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("source", ["GIF", "WEBP"])
@pytest.mark.parametrize(("accept", "out"), [("*/*", "GIF"), ("image/avif,image/webp,*/*", "WEBP")])
def test_animation_kept(make_th, source: str, accept: str, out: str) -> None:
    th: Th = make_th()
    th.put(f"anim.{source.lower()}", animation_bytes(source))
    result = th.get(f"/th?id=anim.{source.lower()}&w=40&h=40&c=4", accept=accept)
    img = image_of(result)
    assert img.format == out
    assert result["headers"]["Content-Type"] == f"image/{out.lower()}"
    assert result["headers"]["X-Smartthumb-Animation"] == "kept"
    frames, durations, loop = frames_of(body_of(result))
    assert len(frames) == FRAMES and tuple(durations) == DURATIONS and loop == LOOP
    for i, frame in enumerate(frames):
        assert frame.size == (40, 40)
        assert near(frame.getpixel((3, 3)), frame_colour(i)), f"frame {i}"
        assert near(frame.getpixel((24, 19)), (255, 255, 255)), f"frame {i}: the marker, cropped alike"


def test_over_the_frame_budget_gives_the_first_frame_and_says_so(make_th) -> None:
    th: Th = make_th(MAX_ANIMATION_FRAMES="5")
    th.put("anim.gif", animation_bytes("GIF"))
    result = th.get("/th?id=anim.gif&w=40&h=40&c=4", accept="image/webp")
    assert result["statusCode"] == 200
    assert result["headers"]["X-Smartthumb-Animation"].startswith("first-frame; frames over MAX_ANIMATION_FRAMES")
    img = image_of(result)
    assert img.format == "WEBP" and getattr(img, "n_frames", 1) == 1
    assert near(img.convert("RGB").getpixel((3, 3)), frame_colour(0))


def test_over_the_pixel_budget_gives_the_first_frame_and_says_so(make_th) -> None:
    th: Th = make_th(MAX_ANIMATION_PIXELS=str(160 * 80 * 11))  # 12 frames of 160x80 is over
    th.put("anim.gif", animation_bytes("GIF"))
    result = th.get("/th?id=anim.gif&w=40&h=40&c=4")
    assert result["headers"]["X-Smartthumb-Animation"].startswith("first-frame; frames x pixels")
    img = image_of(result)
    assert img.format == "JPEG"  # a still now: the still rule (no Accept for modern formats)


@pytest.mark.parametrize("source", ["GIF", "WEBP"])
def test_over_the_decode_cpu_budget_gives_the_first_frame_and_says_so(make_th, source: str) -> None:
    """12 frames of 400x400 are estimated at 21 (GIF) to 36 ms (lossless WebP) for every frame, the
    first one at 1-3 ms: a 10 ms budget serves the first frame; the budget off keeps the animation."""
    data = animation_bytes(source, size=(400, 400))
    th: Th = make_th(MAX_DECODE_CPU_MS="10")
    th.put("anim", data)
    result = th.get("/th?id=anim&w=40&h=40&c=4", accept="image/webp")
    assert result["statusCode"] == 200
    assert result["headers"]["X-Smartthumb-Animation"] == "first-frame; decoding every frame over MAX_DECODE_CPU_MS"
    img = image_of(result)
    assert img.format == "WEBP" and getattr(img, "n_frames", 1) == 1
    assert near(img.convert("RGB").getpixel((3, 3)), frame_colour(0))
    off: Th = make_th(MAX_DECODE_CPU_MS="0")
    off.put("anim", data)
    kept = off.get("/th?id=anim&w=40&h=40&c=4", accept="image/webp")
    assert kept["headers"]["X-Smartthumb-Animation"] == "kept"
    assert getattr(image_of(kept), "n_frames", 1) == FRAMES


def test_still_gif_has_no_animation_header(make_th) -> None:
    from PIL import Image

    from tests.conftest import image_bytes

    th: Th = make_th()
    th.put("still.gif", image_bytes(Image.new("RGB", (60, 40), (10, 200, 10)), "GIF"))
    result = th.get("/th?id=still.gif&w=30")
    assert result["statusCode"] == 200 and "X-Smartthumb-Animation" not in result["headers"]


def test_the_etag_follows_the_settings_that_keep_an_animation(make_th) -> None:
    """The decode CPU budget decides kept or first frame, so it is part of the ETag (and the render
    store's key): a deployment that changes it does not revalidate an animation rendered under the other."""
    data = animation_bytes("GIF", size=(400, 400))
    tags = []
    for budget in ("10", "0"):
        th: Th = make_th(MAX_DECODE_CPU_MS=budget)
        th.put("anim", data)
        tags.append(th.get("/th?id=anim&w=40&h=40&c=4")["headers"]["ETag"])
    assert tags[0] != tags[1]


@pytest.mark.parametrize("source", ["GIF", "WEBP"])
def test_output_frames_over_the_function_memory_give_the_first_frame(make_th, source: str) -> None:
    """12 frames of 16x16 padded to 4096x4096 would hold 805 MB of RGBA frames, over the 576 MB a
    1,024 MB function decodes in: the first frame, padded, and the header says why; at 400x400 the
    same animation stays animated."""
    th: Th = make_th()
    th.put("tiny", animation_bytes(source, size=(16, 16)))
    result = th.get("/th?id=tiny&w=4096&h=4096", accept="image/webp")
    assert result["statusCode"] == 200
    assert result["headers"]["X-Smartthumb-Animation"] == "first-frame; every output frame over the function's memory"
    img = image_of(result)
    assert img.size == (4096, 4096) and getattr(img, "n_frames", 1) == 1
    assert near(img.convert("RGB").getpixel((2048, 2048)), frame_colour(0))
    kept = th.get("/th?id=tiny&w=400&h=400", accept="image/webp")
    assert kept["headers"]["X-Smartthumb-Animation"] == "kept"
    assert getattr(image_of(kept), "n_frames", 1) == FRAMES

"""Animated GIF/WebP sources kept animated: one plan for every frame, timing and loop kept.

The decision (:func:`keep_animated`) is pure and runs on the header's frame
count before any frame is decoded; the rendering (:func:`render_animation`)
is the Pillow edge. Over the budget the caller renders the first frame, as
for a still image, and says so in ``X-Smartthumb-Animation``.

Why these bounds: ``MAX_ANIMATION_FRAMES`` caps the frame count, and
``MAX_ANIMATION_PIXELS`` caps frames x source pixels, because Pillow
composites every frame at the full canvas size before it is cropped, so the
decode cost (time and the working set of two full frames) grows with both.
And every *output* frame is held until the encoder takes them all, so
frames x output pixels x :data:`HELD_BYTES_PER_PIXEL` must fit the
function's decode memory: a 1 KB, 16x16, 20-frame GIF asked at
``w=4096&h=4096`` is padded to 20 frames of 16.8 Mpx (1.3 GB) otherwise.

Every frame is cropped by the plan's one box (the same region in every
frame, so the output does not wobble), resized and padded like a still.
EXIF orientation is not applied to animations (GIF has none; browsers
ignore it in animated WebP).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from smartthumb.errors import OutputTooLarge, UnsupportedImage
from smartthumb.geometry import Plan, Size

#: ``X-Smartthumb-Animation`` values.
KEPT = "kept"
FIRST_FRAME_FRAMES = "first-frame; frames over MAX_ANIMATION_FRAMES"
FIRST_FRAME_PIXELS = "first-frame; frames x pixels over MAX_ANIMATION_PIXELS"
FIRST_FRAME_CPU = "first-frame; decoding every frame over MAX_DECODE_CPU_MS"
FIRST_FRAME_MEMORY = "first-frame; every output frame over the function's memory"

#: Bytes each output pixel of each frame holds until the encoder has them all (RGBA).
HELD_BYTES_PER_PIXEL = 4

#: Same filter choice as stills, at the one speed that suits many frames:
#: reduce by an integer factor first, then a short bicubic.
_RESAMPLE = Image.Resampling.BICUBIC
_REDUCING_GAP = 2.0

_LOAD_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError)


@dataclass(frozen=True, slots=True)
class AnimationBudget:
    max_frames: int = 1000
    #: Frames x source pixels decoded (1000 frames of 500x400, or 50 of 2000x2000).
    max_pixels: int = 200_000_000
    #: The decode CPU budget (``MAX_DECODE_CPU_MS``; 0: off), against decoding every frame.
    max_cpu_ms: int = 0
    #: The function's decode memory in bytes (``structure.decode_budget``; 0: off), against the output frames held.
    max_held_bytes: int = 0


def keep_animated(
    frames: int, source: Size, budget: AnimationBudget, cpu_ms: int = 0, output: Size | None = None
) -> str | None:
    """``KEPT`` when an animation of ``frames`` frames at ``source`` may stay animated, else why not.

    ``cpu_ms`` is the estimate of decoding every frame (``structure.animation_cpu_ms``): 50 frames of
    2000x2000, under the pixel limit, cost 1.3 s (WebP) to 2.3 s (GIF) of CPU. ``output`` is the
    thumbnail's canvas (every frame is held at that size). ``None`` for a still image.
    """
    if frames <= 1:
        return None
    if frames > budget.max_frames:
        return FIRST_FRAME_FRAMES
    if frames * source.area > budget.max_pixels:
        return FIRST_FRAME_PIXELS
    if budget.max_cpu_ms > 0 and cpu_ms > budget.max_cpu_ms:
        return FIRST_FRAME_CPU
    held = frames * output.area * HELD_BYTES_PER_PIXEL if output is not None else 0
    if budget.max_held_bytes > 0 and held > budget.max_held_bytes:
        return FIRST_FRAME_MEMORY
    return KEPT


@dataclass(frozen=True, slots=True)
class Animation:
    body: bytes
    frames: int
    durations: tuple[int, ...]
    loop: int | None  # None: play once (no loop extension)


def _frame(im: Image.Image, plan: Plan, pad: tuple[int, int, int, int], alpha: bool) -> Image.Image:
    frame = im.convert("RGBA" if alpha else "RGB")
    box = plan.crop
    if (box.w, box.h) != (plan.content.width, plan.content.height):
        frame = frame.resize(
            (plan.content.width, plan.content.height),
            _RESAMPLE,
            box=(box.x, box.y, box.right, box.bottom),
            reducing_gap=_REDUCING_GAP,
        )
    elif (box.w, box.h) != frame.size:
        frame = frame.crop((box.x, box.y, box.right, box.bottom))
    if plan.padded:
        canvas = Image.new(frame.mode, (plan.canvas.width, plan.canvas.height), pad if alpha else pad[:3])
        canvas.paste(frame, plan.offset)
        frame = canvas
    return frame


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info


def render_animation(
    image: Image.Image,
    plan: Plan,
    pad_color: tuple[int, int, int, int],
    fmt: str,
    quality: int,
    max_bytes: int,
) -> Animation:
    """Every frame of ``image`` (an opened animated GIF or WebP) through ``plan``, encoded as ``fmt``.

    ``fmt`` is ``"GIF"`` or ``"WEBP"``; WebP's ``quality`` is the caller's mapped quality.
    """
    if fmt not in ("GIF", "WEBP"):
        raise ValueError(f"animations are written as GIF or WebP, not {fmt!r}")
    alpha = _has_alpha(image) or pad_color[3] < 255
    loop = image.info.get("loop")
    frames: list[Image.Image] = []
    durations: list[int] = []
    try:
        for index in range(int(getattr(image, "n_frames", 1))):
            image.seek(index)
            if not alpha and _has_alpha(image):  # transparency from a later frame on: all frames RGBA
                alpha = True
                frames = [f.convert("RGBA") for f in frames]
            frames.append(_frame(image, plan, pad_color, alpha=alpha))
            # After the frame is loaded: WebP's reader sets the duration while decoding.
            durations.append(int(image.info.get("duration", 100) or 0))
    except _LOAD_ERRORS as exc:
        raise UnsupportedImage("the animation is truncated or corrupt") from exc

    buf = io.BytesIO()
    params: dict[str, object] = {"save_all": True, "append_images": frames[1:], "duration": durations}
    if loop is not None:
        params["loop"] = int(loop)
    if fmt == "GIF":
        # Each frame is whole (Pillow composited it): replace, never combine with the previous one.
        params.update(disposal=2 if alpha else 1, optimize=False)
    else:
        # kmin = kmax = 0: no key frames but the first (libwebp's switch; libvips's default too).
        # Pillow's default (a key frame every 3-5 frames) has the encoder try each frame both
        # ways: ~1/3 of the encode time (48 frames at 200 px: 171 -> 115 ms CPU) for 2 % fewer bytes.
        params.update(quality=quality, method=4, lossless=False, kmin=0, kmax=0)
        params["loop"] = 1 if loop is None else int(loop)  # WebP: 0 is forever, 1 plays once
    frames[0].save(buf, fmt, **params)
    body = buf.getvalue()
    if len(body) > max_bytes:
        raise OutputTooLarge(f"the animated thumbnail is {len(body)} bytes, over the {max_bytes}-byte limit")
    return Animation(body, len(frames), tuple(durations), None if loop is None else int(loop))

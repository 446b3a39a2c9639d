"""Generated animations for the format tests: 12 frames, each its own colour and duration."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

FRAMES = 12
DURATIONS = tuple(40 + 10 * i for i in range(FRAMES))
LOOP = 3
#: A white square at the same place in every frame: where a crop puts it shows the crop.
MARKER = (80, 30, 99, 49)


def frame_colour(i: int) -> tuple[int, int, int]:
    return (i * 20, 255 - i * 20, (i * 50) % 256)


def animation_bytes(fmt: str = "GIF", size: tuple[int, int] = (160, 80), loop: int | None = LOOP) -> bytes:
    frames = []
    for i in range(FRAMES):
        im = Image.new("RGB", size, frame_colour(i))
        ImageDraw.Draw(im).rectangle(MARKER, fill=(255, 255, 255))
        frames.append(im)
    buf = io.BytesIO()
    params: dict[str, object] = {"save_all": True, "append_images": frames[1:], "duration": list(DURATIONS)}
    if loop is not None:
        params["loop"] = loop
    if fmt == "WEBP":
        params.update(lossless=True)
    frames[0].save(buf, fmt, **params)
    return buf.getvalue()


def frames_of(data: bytes) -> tuple[list[Image.Image], list[int], int | None]:
    """Every frame (RGB), its duration and the loop count of an encoded animation."""
    im = Image.open(io.BytesIO(data))
    frames, durations = [], []
    for i in range(getattr(im, "n_frames", 1)):
        im.seek(i)
        im.load()
        durations.append(im.info.get("duration"))
        frames.append(im.convert("RGB"))
    return frames, durations, im.info.get("loop")

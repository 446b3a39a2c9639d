"""render.py: opening and limits, error mapping, Accept negotiation, encoding, box mapping."""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from smartthumb.config import Settings
from smartthumb.errors import OutputTooLarge, SourceTooLarge, ThumbError, UnsupportedImage
from smartthumb.geometry import Box, CropMode, Size, plan_thumbnail
from smartthumb.render import (
    _TRANSPOSE,
    CONTENT_TYPES,
    _draft_scale,
    _gif_scan,
    accepts_webp,
    choose_format,
    encode,
    execute,
    open_image,
    render_bytes,
    stored_box,
)
from smartthumb.request import parse_query_string, parse_th

SETTINGS = Settings()
WHITE = (255, 255, 255, 255)


def save(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` but carries one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x80" * 3)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def gradient(size=(160, 120)) -> Image.Image:
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=2).astype(np.uint8))


def req(query: str):
    return parse_th(parse_query_string(query), SETTINGS, require_id=False)


# ------------------------------------------------------------------------ open_image


def test_open_reads_the_header_only() -> None:
    opened = open_image(save(gradient(), "PNG"), SETTINGS)
    assert opened.format == "PNG" and opened.size == Size(160, 120)
    assert opened.orientation == 1 and not opened.has_alpha and opened.icc_profile is None
    assert opened.image.tile  # Pillow clears the tile list once it has decoded


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is plain text and not an image\n",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
        b"<svg width='10' height='10'><rect width='10' height='10'/></svg>",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        b"\x89PNG\r\n\x1a\n",  # signature only
        b"\xff\xd8\xff",  # JPEG SOI and nothing else
        b"GIF89a",
    ],
    ids=["zero-bytes", "text", "svg-xml", "svg", "pdf", "png-signature", "jpeg-soi", "gif-magic"],
)
def test_non_images_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedImage) as info:
        open_image(data, SETTINGS)
    assert info.value.status == 415


@pytest.mark.parametrize("fmt", ["PPM", "ICO", "TGA", "PCX", "JPEG2000"])
def test_formats_pillow_knows_but_we_do_not_serve_are_unsupported(fmt: str) -> None:
    data = save(gradient((32, 32)), fmt)
    Image.open(io.BytesIO(data)).load()  # Pillow itself can read it
    with pytest.raises(UnsupportedImage):
        open_image(data, SETTINGS)


def test_huge_ihdr_is_refused_before_decoding() -> None:
    data = png_claiming(100_000, 100_000)
    assert len(data) < 100
    with pytest.raises(SourceTooLarge) as info:
        open_image(data, SETTINGS)
    assert info.value.status == 413


def test_pixel_limit_is_our_setting_not_pillows_default() -> None:
    small = Settings(max_source_pixels=1000)
    # 40x40 = 1600: over our limit, under twice it (Pillow only warns there).
    with pytest.raises(SourceTooLarge):
        open_image(png_claiming(40, 40), small)
    # 31x32 = 992 passes the header check.
    assert open_image(save(gradient((31, 32)), "PNG"), small).size == Size(31, 32)
    # The same limit holds when it is above Pillow's default (~89 MP).
    big = Settings(max_source_pixels=150_000_000)
    with pytest.raises(SourceTooLarge):
        open_image(png_claiming(20_000, 10_000), big)
    assert open_image(png_claiming(10_000, 10_000), big).size == Size(10_000, 10_000)


def animated_gif(frames: int, size=(20, 10)) -> bytes:
    images = [Image.new("RGB", size, (i * 40 % 256, 0, 0)) for i in range(frames)]
    return save(images[0], "GIF", save_all=True, append_images=images[1:], duration=50)


def test_frame_limit() -> None:
    limited = Settings(max_animation_frames=2)
    assert open_image(animated_gif(2), limited).size == Size(20, 10)
    with pytest.raises(SourceTooLarge):
        open_image(animated_gif(3), limited)
    frames = [Image.new("RGB", (20, 10), c) for c in ("red", "green", "blue")]
    webp = save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50)
    with pytest.raises(SourceTooLarge):
        open_image(webp, limited)


def test_gif_scan_counts_frames_and_frame_extents() -> None:
    assert _gif_scan(animated_gif(5), 1000) == (5, 200)
    assert _gif_scan(animated_gif(50), 3)[0] == 4  # stops after limit + 1
    # A frame reaching past the logical screen counts with its full extent.
    data = bytearray(animated_gif(1, (10, 10)))
    i = data.index(b"\x2c\x00\x00\x00\x00")  # image descriptor at (0, 0)
    data[i + 5 : i + 9] = struct.pack("<HH", 3000, 2000)
    assert _gif_scan(bytes(data), 10) == (1, 6_000_000)
    with pytest.raises(SourceTooLarge):
        open_image(bytes(data), Settings(max_source_pixels=1_000_000))
    assert _gif_scan(b"GIF89a", 10) == (0, 0)


def test_truncated_sources_are_unsupported_at_decode() -> None:
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP"):
        data = save(gradient((400, 300)), fmt)
        cut = data[: len(data) // 2]
        with pytest.raises(UnsupportedImage):
            opened = open_image(cut, SETTINGS)  # the header may still be fine...
            execute(opened, plan_thumbnail(opened.size, 100, None), WHITE)  # ...the pixels are not


def test_corrupt_png_data_is_unsupported() -> None:
    data = bytearray(save(gradient(), "PNG"))
    i = data.index(b"IDAT")
    data[i + 4 : i + 6] = b"\xff\xff"  # not a zlib header: the inflater fails
    with pytest.raises(UnsupportedImage):
        render_bytes(bytes(data), req("w=50"), SETTINGS)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the broken TIFF tags
def test_mutated_sources_never_escape_as_anything_but_thumb_errors() -> None:
    rng = random.Random(20261122)
    seeds = [save(gradient((64, 48)), fmt) for fmt in ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")]
    outcomes = {"ok": 0, "error": 0}
    for _ in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        try:
            render_bytes(bytes(data), req("w=32&h=32&c=4"), SETTINGS)
            outcomes["ok"] += 1
        except ThumbError as exc:
            assert exc.status in (413, 415)
            outcomes["error"] += 1
    assert outcomes["ok"] > 0 and outcomes["error"] > 0


def test_mpo_opens_as_jpeg_and_renders_its_first_picture() -> None:
    first = Image.new("RGB", (64, 48), (200, 30, 30))
    second = Image.new("RGB", (64, 48), (30, 30, 200))
    data = save(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    opened = open_image(data, SETTINGS)
    assert opened.format == "JPEG"
    out, fmt = render_bytes(data, req("w=32"), SETTINGS)
    pixel = Image.open(io.BytesIO(out)).getpixel((16, 12))
    assert fmt == "JPEG" and pixel[0] > 150 and pixel[2] < 80


# ------------------------------------------------------------------ geometry mapping


@pytest.mark.parametrize("orientation", range(1, 9))
def test_stored_box_maps_upright_boxes_into_the_stored_grid(orientation: int) -> None:
    rng = np.random.default_rng(orientation)
    stored = Image.fromarray(rng.integers(0, 255, (13, 21, 3), dtype=np.uint8))
    upright = stored.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else stored
    for _ in range(25):
        x0, x1 = sorted(rng.choice(upright.size[0] + 1, 2, replace=False))
        y0, y1 = sorted(rng.choice(upright.size[1] + 1, 2, replace=False))
        box = Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        expected = upright.crop(box.as_tuple())
        got = stored.crop(stored_box(box, Size(*stored.size), orientation))
        if orientation in _TRANSPOSE:
            got = got.transpose(_TRANSPOSE[orientation])
        assert np.array_equal(np.asarray(got), np.asarray(expected))


def test_draft_scale_is_the_smallest_that_still_covers_the_output() -> None:
    assert _draft_scale(4000, 3000, 200, 150) == 8
    assert _draft_scale(4000, 3000, 1067, 800) == 2
    assert _draft_scale(6000, 4000, 1200, 800) == 4
    assert _draft_scale(1600, 1600, 201, 100) == 4
    assert _draft_scale(500, 500, 400, 400) == 1


def test_jpeg_is_decoded_at_the_draft_scale() -> None:
    data = save(gradient((1600, 1200)), "JPEG", quality=90)
    opened = open_image(data, SETTINGS)
    image = execute(opened, plan_thumbnail(opened.size, 200, None), WHITE)
    assert opened.image.size == (200, 150)  # libjpeg decoded at 1/8
    assert image.size == (200, 150)
    opened = open_image(data, SETTINGS)
    execute(opened, plan_thumbnail(opened.size, 201, None), WHITE)
    assert opened.image.size == (400, 300)  # 1/8 would be too small: 1/4
    # A crop needs only its own box to cover the output: c=4 square 1200 -> 150 is 1/8.
    opened = open_image(data, SETTINGS)
    execute(opened, plan_thumbnail(opened.size, 150, 150, CropMode.BLIND_RATIO), WHITE)
    assert opened.image.size == (200, 150)


def test_unscaled_crop_is_pixel_exact() -> None:
    src = gradient((300, 200))
    opened = open_image(save(src, "PNG"), SETTINGS)
    plan = plan_thumbnail(opened.size, 400, 200, CropMode.BLIND_RATIO, False)
    image = execute(opened, plan, WHITE)
    assert image.size == (300, 150)
    assert np.array_equal(np.asarray(image), np.asarray(src.crop((0, 0, 300, 150))))


# --------------------------------------------------------------- format negotiation


@pytest.mark.parametrize(
    "accept,expected",
    [
        (None, False),
        ("", False),
        ("image/webp", True),
        ("image/avif,image/webp,image/apng,image/*,*/*;q=0.8", True),
        ("IMAGE/WEBP;Q=0.5", True),
        ("image/webp;q=0", False),
        ("image/webp; q=0.0, image/*", False),
        ("image/webp;q=0.001", True),
        ("image/webp;q=abc", False),
        ("image/webp;q=nan", False),
        ("*/*", False),
        ("image/*", False),
        ("image/webpx, image/png", False),
        ("text/html, image/webp ; q=0.9", True),
        ("image/webp;q=0, image/webp;q=1", True),
    ],
)
def test_accepts_webp(accept: str | None, expected: bool) -> None:
    assert accepts_webp(accept) is expected


def test_choose_format() -> None:
    opaque = open_image(save(gradient(), "JPEG"), SETTINGS)
    alpha = open_image(save(gradient().convert("RGBA"), "PNG"), SETTINGS)
    off = Settings(enable_webp=False)
    assert choose_format(opaque, None, SETTINGS, WHITE) == "JPEG"
    assert choose_format(opaque, "image/webp", SETTINGS, WHITE) == "WEBP"
    assert choose_format(opaque, "image/webp", off, WHITE) == "JPEG"
    assert choose_format(opaque, None, SETTINGS, (255, 0, 0, 128)) == "PNG"
    assert choose_format(alpha, None, SETTINGS, WHITE) == "PNG"
    assert choose_format(alpha, "image/webp", off, WHITE) == "PNG"
    assert choose_format(alpha, "image/webp;q=0.5", SETTINGS, WHITE) == "WEBP"
    assert CONTENT_TYPES == {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


# ---------------------------------------------------------------------------- encode


def noisy(size=(300, 300)) -> Image.Image:
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def test_encode_quality_is_applied() -> None:
    im = gradient()
    small = encode(im, "JPEG", 20, None, 10**7)
    large = encode(im, "JPEG", 95, None, 10**7)
    assert len(small) < len(large)
    assert Image.open(io.BytesIO(small)).format == "JPEG"
    assert len(encode(im, "WEBP", 20, None, 10**7)) < len(encode(im, "WEBP", 95, None, 10**7))


def test_encode_steps_quality_down_to_fit() -> None:
    im = noisy()
    full = encode(im, "JPEG", 90, None, 10**7)
    lower = encode(im, "JPEG", 45, None, 10**7)
    assert len(lower) < len(full)
    fitted = encode(im, "JPEG", 90, None, len(lower) + 10)
    assert len(fitted) <= len(lower) + 10 and len(fitted) < len(full)
    with pytest.raises(OutputTooLarge) as info:
        encode(im, "JPEG", 90, None, 500)
    assert info.value.status == 413
    with pytest.raises(OutputTooLarge):
        encode(im, "WEBP", 90, None, 500)
    with pytest.raises(OutputTooLarge):
        encode(im, "PNG", 90, None, 1000)


def test_png_retries_at_highest_compression() -> None:
    im = gradient((400, 300))
    default = encode(im, "PNG", 85, None, 10**7)
    best = encode(im, "PNG", 85, None, len(default) - 1)
    assert len(best) < len(default)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(best)).convert("RGB")), np.asarray(im))


def test_encode_jpeg_flattens_alpha_onto_white_and_webp_takes_greyscale() -> None:
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    out = Image.open(io.BytesIO(encode(rgba, "JPEG", 90, None, 10**7)))
    assert out.mode == "RGB" and min(out.getpixel((5, 5))) >= 250
    grey = Image.new("L", (10, 10), 100)
    webp = Image.open(io.BytesIO(encode(grey, "webp", 90, None, 10**7)))
    assert webp.format == "WEBP" and abs(webp.convert("L").getpixel((5, 5)) - 100) <= 3


def test_encode_refuses_unknown_formats() -> None:
    with pytest.raises(ValueError):
        encode(gradient(), "GIF", 90, None, 10**7)
    with pytest.raises(ValueError):
        render_bytes(save(gradient(), "PNG"), req("w=10"), SETTINGS, fmt="BMP")


def test_encode_does_not_write_the_images_own_info() -> None:
    im = gradient()
    im.info["exif"] = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00"
    im.info["icc_profile"] = b"not a profile"
    for fmt in ("JPEG", "PNG", "WEBP"):
        out = encode(im, fmt, 90, None, 10**7)
        decoded = Image.open(io.BytesIO(out))
        assert "exif" not in decoded.info and "icc_profile" not in decoded.info, fmt
    assert "exif" in im.info  # the caller's image is left as it was


def test_render_bytes_uses_request_quality_and_forced_format() -> None:
    data = save(noisy((200, 200)), "PNG")
    low, fmt = render_bytes(data, req("w=100&qlt=10"), SETTINGS)
    high, _ = render_bytes(data, req("w=100&qlt=95"), SETTINGS)
    assert fmt == "JPEG" and len(low) < len(high)
    png, fmt = render_bytes(data, req("w=100"), SETTINGS, fmt="png")
    assert fmt == "PNG" and Image.open(io.BytesIO(png)).format == "PNG"
    webp, fmt = render_bytes(data, req("w=100"), SETTINGS, accept="image/webp")
    assert fmt == "WEBP" and Image.open(io.BytesIO(webp)).format == "WEBP"


def test_executing_one_opened_image_twice_stays_correct() -> None:
    """draft() works once; a second plan on the same OpenedImage uses the scale in effect."""
    src = gradient((1600, 1200))
    data = save(src, "JPEG", quality=95)
    opened = open_image(data, SETTINGS)
    small = execute(opened, plan_thumbnail(opened.size, 100, None), WHITE)  # drafted at 1/8
    assert opened.image.size == (200, 150)
    # Now a centre crop at 400x600, which alone would draft at 1/4: the image is
    # already at 1/8, so the box must be mapped at 1/8 (the result is softer, not wrong).
    plan = plan_thumbnail(opened.size, 400, 600, CropMode.BLIND_RATIO)
    again = execute(opened, plan, WHITE)
    reference = src.resize((400, 600), Image.Resampling.LANCZOS, box=plan.crop.as_tuple())
    assert small.size == (100, 75) and again.size == (400, 600)
    assert np.abs(np.asarray(again, dtype=np.int16) - np.asarray(reference, dtype=np.int16)).mean() < 4

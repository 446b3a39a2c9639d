"""smartthumb.render: opening and limits, error mapping, Accept negotiation, encoding, box mapping."""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from smartthumb.accept import accepted_formats, accepts_webp
from smartthumb.config import Settings
from smartthumb.errors import OutputTooLarge, SourceTooLarge, ThumbError, UnsupportedImage
from smartthumb.geometry import Box, CropMode, Size, plan_thumbnail
from smartthumb.render import (
    CONTENT_TYPES,
    choose_format,
    encode,
    execute,
    open_image,
    png_spng,
    render_bytes,
    stored_box,
)
from smartthumb.render.execute import _TRANSPOSE
from smartthumb.render.resample import draft_scale as _draft_scale
from smartthumb.request import parse_query_string, parse_th
from smartthumb.structure import gif as gif_structure

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
    # Over the limit a GIF or WebP is not refused: it gives its first frame (smartthumb.animation);
    # the GIF walk stops counting at the limit + 1.
    assert open_image(animated_gif(5), limited).frames == 3
    frames = [Image.new("RGB", (20, 10), c) for c in ("red", "green", "blue")]
    webp = save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50)
    assert open_image(webp, limited).frames == 3
    pages = save(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    with pytest.raises(SourceTooLarge):  # a multi-page TIFF is not an animation
        open_image(pages, limited)


def _gif_scan(data: bytes, limit: int) -> tuple[int, int]:
    facts = gif_structure.scan(data, limit)
    return facts.counts.get("frames", 0), facts.pixels


def test_gif_scan_counts_frames_and_frame_extents() -> None:
    assert _gif_scan(animated_gif(5), 1000) == (5, 200)
    assert _gif_scan(animated_gif(50), 3)[0] == 4  # the walk stops after limit + 1
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
    assert choose_format(opaque, accepted_formats(None), SETTINGS, WHITE) == "JPEG"
    assert choose_format(opaque, accepted_formats("image/webp"), SETTINGS, WHITE) == "WEBP"
    assert choose_format(opaque, accepted_formats("image/webp"), off, WHITE) == "JPEG"
    assert choose_format(opaque, accepted_formats(None), SETTINGS, (255, 0, 0, 128)) == "PNG"
    assert choose_format(alpha, accepted_formats(None), SETTINGS, WHITE) == "PNG"
    assert choose_format(alpha, accepted_formats("image/webp"), off, WHITE) == "PNG"
    assert choose_format(alpha, accepted_formats("image/webp;q=0.5"), SETTINGS, WHITE) == "WEBP"
    assert CONTENT_TYPES == {
        "JPEG": "image/jpeg",
        "PNG": "image/png",
        "WEBP": "image/webp",
        "AVIF": "image/avif",
        "GIF": "image/gif",
    }


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
    webp, fmt = render_bytes(data, req("w=100"), SETTINGS, accepted={"WEBP"})
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


# ------------------------------------------------------------------ PNG via libspng


def adam7(im: Image.Image) -> bytes:
    """``im`` (L, LA, RGB or RGBA, 8-bit) as an Adam7-interlaced PNG: Pillow cannot write these."""
    pixels = np.asarray(im)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    colour_type = {"L": 0, "LA": 4, "RGB": 2, "RGBA": 6}[im.mode]
    raw = b""
    for x0, y0, dx, dy in (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ):
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", im.width, im.height, 8, colour_type, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset of the length field, payload length) of every chunk."""
    pos, out = 8, []
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append((data[pos + 4 : pos + 8], pos, length))
        pos += 12 + length
    return out


def photo(mode: str, size=(331, 247)) -> Image.Image:
    """Noisy, photo-like content (adaptive filtering picks every filter type) in ``mode``."""
    rng = np.random.default_rng(7)
    base = np.asarray(gradient(size), dtype=np.int16) + rng.integers(-40, 41, (size[1], size[0], 3))
    im = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    if mode in ("LA", "RGBA"):
        im = im.convert("RGBA")
        im.putalpha(Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)))
    return im.convert(mode)


class Spy:
    """Counts libspng decodes; ``pillow_only`` turns the libspng path off."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.monkeypatch = monkeypatch
        real = png_spng._spng_decode

        def counting(*args: object, **kwargs: object) -> None:
            self.calls += 1
            real(*args, **kwargs)

        monkeypatch.setattr(png_spng, "_spng_decode", counting)

    def both(self, data: bytes, query: str, region: Box | None = None) -> tuple[Image.Image, Image.Image, int]:
        """(libspng path result, Pillow path result, libspng decodes run for the first)."""
        request = req(query)
        self.calls = 0

        def run() -> Image.Image:
            opened = open_image(data, SETTINGS)
            plan = plan_thumbnail(opened.size, request.width, request.height, request.crop, request.pad, region)
            return execute(opened, plan, request.pad_color)

        fast = run()
        calls = self.calls
        with self.monkeypatch.context() as m:
            m.setattr(png_spng, "execute_png", lambda *args: None)
            slow = run()
        return fast, slow, calls


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.mode == b.mode and a.size == b.size and a.tobytes() == b.tobytes()


QUERIES = [
    "w=200&h=200",  # fit, padded: reduce then LANCZOS
    "w=100&h=100&c=4",  # blind-ratio centre crop
    "w=60&h=200&c=4",
    "w=250",  # small shrink: BICUBIC, no reduce step
    "w=331&h=247&p=0",  # the original size: nothing to resample
    "w=120&h=247&c=4",  # a crop without scaling
    "w=40",
]


@pytest.mark.parametrize("strip_bytes", [1, 1 << 18])
@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_libspng_path_matches_pillow_pixel_for_pixel(
    monkeypatch: pytest.MonkeyPatch, mode: str, strip_bytes: int
) -> None:
    """Every 8-bit colour type, every resample branch, strips of one row (or one reduce block) and large strips."""
    monkeypatch.setattr(png_spng, "_SPNG_STRIP_BYTES", strip_bytes)
    spy = Spy(monkeypatch)
    data = save(photo(mode), "PNG")
    for query in QUERIES:
        fast, slow, calls = spy.both(data, query)
        assert calls == 1, query
        assert same_pixels(fast, slow), (mode, query)


def test_libspng_path_matches_pillow_for_a_region_crop(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    data = save(photo("RGB", (640, 480)), "PNG")
    for region in (Box(10, 300, 200, 150), Box(600, 0, 40, 480), Box(0, 0, 640, 1)):
        fast, slow, calls = spy.both(data, "w=50&h=50&c=7", region)
        assert calls == 1 and same_pixels(fast, slow), region


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_interlaced_png_goes_to_pillow_and_matches_the_plain_file(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    spy = Spy(monkeypatch)
    im = photo(mode)
    interlaced = adam7(im)
    assert Image.open(io.BytesIO(interlaced)).info.get("interlace")
    plain = save(im, "PNG")
    for query in ("w=200&h=200", "w=100&h=100&c=4"):
        from_interlaced, _, calls = spy.both(interlaced, query)
        assert calls == 0  # not a libspng case
        from_plain, _, calls = spy.both(plain, query)
        assert calls == 1
        assert same_pixels(from_interlaced, from_plain), (mode, query)


def test_libspng_path_keeps_the_icc_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = save(photo("RGB"), "PNG", icc_profile=icc)
    spy = Spy(monkeypatch)
    fast, _ = render_bytes(data, req("w=100"), SETTINGS, fmt="PNG")
    assert spy.calls == 1
    with monkeypatch.context() as m:
        m.setattr(png_spng, "execute_png", lambda *args: None)
        slow, _ = render_bytes(data, req("w=100"), SETTINGS, fmt="PNG")
    assert fast == slow
    assert Image.open(io.BytesIO(fast)).info.get("icc_profile") == icc


@pytest.mark.parametrize("orientation", range(1, 9))
def test_libspng_path_applies_the_exif_orientation(monkeypatch: pytest.MonkeyPatch, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = save(photo("RGBA", (300, 200)), "PNG", exif=exif.tobytes())
    assert open_image(data, SETTINGS).orientation == orientation
    spy = Spy(monkeypatch)
    for query in ("w=90&h=90&c=4", "w=120"):
        fast, slow, calls = spy.both(data, query)
        assert calls == 1 and same_pixels(fast, slow), (orientation, query)
        assert fast.size == ((120, 180) if orientation >= 5 and query == "w=120" else slow.size)


def test_libspng_path_ignores_gamma_like_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    im = photo("RGB")
    plain = save(im, "PNG")
    first = png_chunks(plain)[1][1]  # after IHDR
    gama = png_chunk(b"gAMA", struct.pack(">I", 100000)) + png_chunk(b"sRGB", b"\x00")
    data = plain[:first] + gama + plain[first:]
    spy = Spy(monkeypatch)
    fast, slow, calls = spy.both(data, "w=300&h=300&p=0")
    reference, _, _ = spy.both(plain, "w=300&h=300&p=0")
    assert calls == 1 and same_pixels(fast, slow) and same_pixels(fast, reference)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda im: save(im.convert("P"), "PNG"), id="palette"),
        pytest.param(lambda im: save(im.convert("1"), "PNG"), id="1-bit"),
        pytest.param(lambda im: save(im.convert("L"), "PNG", bits=4), id="4-bit"),
        pytest.param(lambda im: save(im.convert("RGB"), "PNG", transparency=(10, 20, 30)), id="rgb-trns"),
        pytest.param(lambda im: save(im.convert("L"), "PNG", transparency=7), id="grey-trns"),
        pytest.param(lambda im: save(im.convert("I;16"), "PNG"), id="16-bit-grey"),
        pytest.param(lambda im: save(im, "PNG", save_all=True, append_images=[im.rotate(90)], duration=50), id="apng"),
        pytest.param(lambda im: adam7(im), id="interlaced"),
    ],
)
def test_the_gate_sends_unusual_pngs_to_pillow(monkeypatch: pytest.MonkeyPatch, make) -> None:
    data = make(photo("RGB"))
    assert png_spng._spng_source(open_image(data, SETTINGS)) is None
    spy = Spy(monkeypatch)
    out, _ = render_bytes(data, req("w=100"), SETTINGS)
    assert spy.calls == 0 and Image.open(io.BytesIO(out)).size[0] == 100


def test_the_gate_sends_16_bit_colour_to_pillow() -> None:
    rows = b"".join(b"\x00" + bytes(range(6)) * 8 for _ in range(5))
    ihdr = struct.pack(">IIBBBBB", 8, 5, 16, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )
    assert png_spng._spng_source(open_image(data, SETTINGS)) is None


def idat_damaged(data: bytes, how: str) -> bytes:
    """``data`` with its first IDAT damaged: a payload byte, or its CRC, or the Adler-32 (CRC fixed up)."""
    out = bytearray(data)
    _, pos, length = next(c for c in png_chunks(data) if c[0] == b"IDAT")
    if how == "crc":
        out[pos + 8 + length] ^= 0x55
        return bytes(out)
    at = pos + 8 + (length // 2 if how == "payload" else length - 1)
    out[at] ^= 0x55
    out[pos + 8 + length : pos + 12 + length] = struct.pack(">I", zlib.crc32(bytes(out[pos + 4 : pos + 8 + length])))
    return bytes(out)


def big_photo_png(mode: str = "RGB") -> bytes:
    """Several IDAT chunks (Pillow writes 64 KiB ones)."""
    data = save(photo(mode, (700, 500)), "PNG")
    assert sum(1 for c in png_chunks(data) if c[0] == b"IDAT") > 1
    return data


@pytest.mark.parametrize("cut", [0.3, 0.7, 0.999])
def test_truncated_png_is_415_on_both_paths(monkeypatch: pytest.MonkeyPatch, cut: float) -> None:
    data = big_photo_png()
    idats = [c for c in png_chunks(data) if c[0] == b"IDAT"]
    end = idats[-1][1] + 8 + idats[-1][2]
    truncated = data[: int(end * cut)]
    spy = Spy(monkeypatch)
    with pytest.raises(UnsupportedImage):
        render_bytes(truncated, req("w=100"), SETTINGS)
    assert spy.calls == 1  # libspng refused it, then Pillow did
    with monkeypatch.context() as m, pytest.raises(UnsupportedImage):
        m.setattr(png_spng, "execute_png", lambda *args: None)
        render_bytes(truncated, req("w=100"), SETTINGS)


@pytest.mark.parametrize("how", ["payload", "adler"])
def test_corrupt_image_data_is_415_on_both_paths(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    data = idat_damaged(save(photo("RGB"), "PNG"), how)
    spy = Spy(monkeypatch)
    with pytest.raises(UnsupportedImage):
        render_bytes(data, req("w=100"), SETTINGS)
    assert spy.calls == 1
    with monkeypatch.context() as m, pytest.raises(UnsupportedImage):
        m.setattr(png_spng, "execute_png", lambda *args: None)
        render_bytes(data, req("w=100"), SETTINGS)


def test_header_chunk_crc_error_is_415_before_any_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytearray(save(photo("RGB"), "PNG"))
    data[29] ^= 1  # IHDR's CRC
    spy = Spy(monkeypatch)
    with pytest.raises(UnsupportedImage):
        render_bytes(bytes(data), req("w=100"), SETTINGS)
    assert spy.calls == 0


@pytest.mark.parametrize("data_maker", [lambda: save(photo("RGB"), "PNG"), big_photo_png])
def test_idat_crc_error_renders_as_pillow_renders_it(monkeypatch: pytest.MonkeyPatch, data_maker) -> None:
    """Pillow does not check IDAT CRCs (it skips them); whichever path decodes, the result is Pillow's."""
    data = idat_damaged(data_maker(), "crc")
    spy = Spy(monkeypatch)
    fast, slow, _ = spy.both(data, "w=100&h=100")
    assert same_pixels(fast, slow)


@pytest.mark.parametrize(
    "trailer",
    [
        pytest.param(lambda: png_chunk(b"tEXt", b"k\x00v")[:-6], id="truncated-text"),
        pytest.param(lambda: png_chunk(b"zTXt", b"k\x00\x00" + b"not zlib at all"), id="corrupt-ztxt"),
        pytest.param(lambda: png_chunk(b"tRNS", b"\x00"), id="short-trns"),
        pytest.param(lambda: png_chunk(b"tEXt", b"k\x00v") + png_chunk(b"IEND", b""), id="fine-text"),
        pytest.param(lambda: png_chunk(b"prIv", b"x" * 10) + png_chunk(b"IEND", b""), id="unknown-chunk"),
        pytest.param(lambda: b"", id="no-iend"),
        pytest.param(lambda: b"\x00\x00\x00\x05ab", id="garbage"),
    ],
)
def test_chunks_after_the_image_data_get_pillows_verdict(monkeypatch: pytest.MonkeyPatch, trailer) -> None:
    plain = save(photo("RGB"), "PNG")
    iend = next(c for c in png_chunks(plain) if c[0] == b"IEND")[1]
    data = plain[:iend] + trailer()
    spy = Spy(monkeypatch)

    def outcome(fast: bool) -> object:
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(png_spng, "execute_png", lambda *args: None)
            try:
                return render_bytes(data, req("w=100"), SETTINGS)[0]
            except UnsupportedImage:
                return "415"

    assert outcome(True) == outcome(False)
    assert spy.calls >= 1


def test_one_opened_png_executed_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    data = save(photo("RGB"), "PNG")
    opened = open_image(data, SETTINGS)
    spy = Spy(monkeypatch)
    a = execute(opened, plan_thumbnail(opened.size, 100, None), WHITE)
    b = execute(opened, plan_thumbnail(opened.size, 100, None), WHITE)
    assert spy.calls == 2 and same_pixels(a, b)


def test_decompression_bomb_png_is_refused_before_libspng(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    with pytest.raises(SourceTooLarge):
        render_bytes(png_claiming(20000, 20000), req("w=100"), SETTINGS)
    assert spy.calls == 0


def test_without_libspng_pngs_go_to_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png_spng, "_spng", False)
    spy = Spy(monkeypatch)
    data = save(photo("RGBA"), "PNG")
    out, fmt = render_bytes(data, req("w=100"), SETTINGS)
    assert spy.calls == 0 and fmt == "PNG" and Image.open(io.BytesIO(out)).size == (100, 75)


def test_libspng_path_imports_neither_numpy_nor_pyspng() -> None:
    import subprocess
    import sys

    png = save(photo("RGB"), "PNG")
    code = (
        "import sys\n"
        "from smartthumb.config import Settings\n"
        "from smartthumb.render import render_bytes\nfrom smartthumb.render.png_spng import libspng\n"
        "from smartthumb.request import parse_query_string, parse_th\n"
        "s = Settings()\n"
        "data = sys.stdin.buffer.read()\n"
        "render_bytes(data, parse_th(parse_query_string('w=50'), s, require_id=False), s)\n"
        "assert libspng() is not None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'pyspng')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], input=png, capture_output=True, check=True)
    assert result.stdout.strip() == b"[]", result.stderr

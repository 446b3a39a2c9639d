"""Rendering on real pixels: the seed's examples, blind ratio, every mode and orientation.

Every test builds its source image with Pillow, runs it through the real
open -> plan -> execute -> encode path and decodes the output again.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from smartthumb.accept import accepted_formats
from smartthumb.config import Settings
from smartthumb.geometry import CropMode, plan_thumbnail
from smartthumb.render import choose_format, encode, execute, open_image, render_bytes
from smartthumb.request import parse_query_string, parse_th
from tests.conftest import as_stored

SETTINGS = Settings()
GREY = (90, 120, 160)  # the "image" colour: far from white in every channel
RED = (220, 20, 20)
GREEN = (20, 200, 20)
BLUE = (20, 20, 220)
YELLOW = (230, 220, 20)
MAGENTA = (220, 20, 220)
MID = (128, 128, 128)


def save(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def request(query: str):
    return parse_th(parse_query_string(query), SETTINGS, require_id=False)


def render(data: bytes, query: str, *, fmt: str | None = None, accept: str | None = None) -> tuple[Image.Image, str]:
    out, out_fmt = render_bytes(data, request(query), SETTINGS, fmt=fmt, accepted=accepted_formats(accept))
    im = Image.open(io.BytesIO(out))
    im.load()
    assert im.format == out_fmt
    return im, out_fmt


def near(pixel, colour, tol: int = 12) -> bool:
    if isinstance(pixel, int):
        pixel = (pixel,)
        colour = colour if isinstance(colour, tuple) else (colour,)
    return all(abs(int(p) - int(c)) <= tol for p, c in zip(pixel, colour, strict=False))


def arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im).astype(np.int16)


def with_exif_orientation(orientation: int, **tags: object) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    for key, value in tags.items():
        exif[int(key)] = value
    return exif


# --------------------------------------------------------------- the seed's examples


@pytest.fixture(scope="module")
def seed_source() -> bytes:
    return save(Image.new("RGB", (474, 316), GREY), "PNG")


@pytest.mark.parametrize("fmt,tol", [("PNG", 2), ("JPEG", 16)])
def test_seed_w500_pads_13_columns_and_8_9_rows(seed_source: bytes, fmt: str, tol: int) -> None:
    im, _ = render(seed_source, "w=500&qlt=95", fmt=fmt)
    assert im.size == (500, 333)
    a = arr(im.convert("RGB"))
    m = 0 if fmt == "PNG" else 1  # JPEG: the pixel touching the image edge may ring
    white = np.array([255, 255, 255])
    assert np.abs(a[:, : 13 - m] - white).max() <= tol  # 13 px left
    assert np.abs(a[:, 487 + m :] - white).max() <= tol  # 13 px right
    assert np.abs(a[: 8 - m, :] - white).max() <= tol  # 8 rows top
    assert np.abs(a[324 + m :, :] - white).max() <= tol  # 9 rows bottom
    inner = a[8 + m : 324 - m, 13 + m : 487 - m]
    assert np.abs(inner - np.array(GREY)).max() <= tol  # the image area is the image
    if fmt == "PNG":  # exact boundaries
        assert tuple(a[8, 13]) == GREY and tuple(a[7, 13]) == (255, 255, 255)
        assert tuple(a[323, 486]) == GREY and tuple(a[324, 486]) == (255, 255, 255)
        assert tuple(a[100, 12]) == (255, 255, 255) and tuple(a[100, 487]) == (255, 255, 255)


def test_seed_w500_p0_is_the_original(seed_source: bytes) -> None:
    im, fmt = render(seed_source, "w=500&p=0")
    assert fmt == "JPEG"
    assert im.size == (474, 316)
    assert np.abs(arr(im) - np.array(GREY)).max() <= 6


@pytest.mark.parametrize("fmt,tol", [("PNG", 2), ("JPEG", 16)])
def test_seed_200x200_pads_33_rows(seed_source: bytes, fmt: str, tol: int) -> None:
    im, _ = render(seed_source, "w=200&h=200&qlt=95", fmt=fmt)
    assert im.size == (200, 200)
    a = arr(im.convert("RGB"))
    m = 0 if fmt == "PNG" else 1
    white = np.array([255, 255, 255])
    assert np.abs(a[: 33 - m] - white).max() <= tol
    assert np.abs(a[167 + m :] - white).max() <= tol
    assert np.abs(a[33 + m : 167 - m] - np.array(GREY)).max() <= tol  # image 200x134, full width
    if fmt == "PNG":
        assert tuple(a[33, 0]) != (255, 255, 255) and tuple(a[32, 0]) == (255, 255, 255)
        assert tuple(a[166, 199]) != (255, 255, 255) and tuple(a[167, 199]) == (255, 255, 255)


def test_seed_200x200_p0_is_200x134(seed_source: bytes) -> None:
    im, _ = render(seed_source, "w=200&h=200&p=0")
    assert im.size == (200, 134)
    assert np.abs(arr(im) - np.array(GREY)).max() <= 6


def test_seed_examples_through_the_four_steps(seed_source: bytes) -> None:
    """The same through open_image / plan_thumbnail / execute / encode, as service.py calls them."""
    opened = open_image(seed_source, SETTINGS)
    plan = plan_thumbnail(opened.size, 200, 200, CropMode.NONE, True, None)
    image = execute(opened, plan, (255, 255, 255, 255))
    assert image.mode == "RGB" and image.size == (200, 200)
    fmt = choose_format(opened, (), SETTINGS, (255, 255, 255, 255))
    assert fmt == "JPEG"
    out = Image.open(io.BytesIO(encode(image, fmt, 90, opened.icc_profile, SETTINGS.max_output_bytes)))
    assert out.size == (200, 200) and near(out.getpixel((100, 10)), (255, 255, 255))
    assert near(out.getpixel((100, 100)), GREY)


# ------------------------------------------------------------------------ blind ratio


def test_blind_ratio_taller_source_keeps_the_top() -> None:
    im = Image.new("RGB", (300, 600), MID)
    im.paste(RED, (0, 0, 300, 30))  # top band: kept
    im.paste(MAGENTA, (100, 270, 200, 300))  # just above the crop's bottom edge (y=300): kept
    im.paste(BLUE, (100, 300, 200, 340))  # just below it: cut
    im.paste(BLUE, (0, 570, 300, 600))  # bottom band: cut
    im.paste(GREEN, (0, 0, 20, 600))  # left column: kept (full width)
    im.paste(YELLOW, (280, 0, 300, 600))  # right column: kept
    out, _ = render(save(im, "PNG"), "w=200&h=200&c=4", fmt="PNG")
    assert out.size == (200, 200)
    assert near(out.getpixel((100, 8)), RED)
    assert near(out.getpixel((150, 195)), MID) and near(out.getpixel((100, 195)), MAGENTA)
    assert near(out.getpixel((4, 100)), GREEN) and near(out.getpixel((195, 100)), YELLOW)
    a = arr(out)
    assert not (np.abs(a - np.array(BLUE)).max(axis=2) < 40).any(), "a bottom marker survived"


def test_blind_ratio_wider_source_cuts_left_and_right_equally() -> None:
    im = Image.new("RGB", (600, 300), MID)
    im.paste(RED, (0, 0, 150, 300))  # outer left: cut
    im.paste(BLUE, (450, 0, 600, 300))  # outer right: cut
    im.paste(GREEN, (150, 0, 180, 300))  # inner left edge of the centred crop (150..450): kept
    im.paste(YELLOW, (420, 0, 450, 300))  # inner right edge: kept
    im.paste(MAGENTA, (200, 0, 400, 20))  # top: kept
    im.paste(GREY, (200, 280, 400, 300))  # bottom: kept
    out, _ = render(save(im, "PNG"), "w=200&h=200&c=4", fmt="PNG")
    assert out.size == (200, 200)
    assert near(out.getpixel((5, 100)), GREEN) and near(out.getpixel((194, 100)), YELLOW)
    assert near(out.getpixel((100, 5)), MAGENTA) and near(out.getpixel((100, 195)), GREY)
    a = arr(out)
    for colour in (RED, BLUE):
        assert not (np.abs(a - np.array(colour)).max(axis=2) < 40).any(), f"{colour} survived"


# ------------------------------------------------------------------------------ modes


def halves(mode: str, size=(120, 80), left=None, right=None) -> Image.Image:
    """Left half one value, right half another, in ``mode``."""
    if mode == "I;16":  # Pillow's paste() of an int into I;16 repeats the low byte: build it with numpy
        a = np.full((size[1], size[0]), right, dtype=np.uint16)
        a[:, : size[0] // 2] = left
        return Image.fromarray(a)
    im = Image.new(mode, size, right)
    im.paste(left, (0, 0, size[0] // 2, size[1]))
    return im


def sample(out: Image.Image) -> tuple:
    w, h = out.size
    return out.getpixel((w // 4, h // 2)), out.getpixel((3 * w // 4, h // 2))


def _palette(transparent: bool) -> Image.Image:
    im = halves("RGB", left=RED, right=BLUE).quantize(4)
    if transparent:
        # Make the palette entry of the left half transparent.
        im.info["transparency"] = im.getpixel((0, 0))
    return im


def _ycck_jpeg() -> bytes:
    """A YCCK JPEG (Adobe transform 2) that shows red.

    Pillow writes CMYK as Adobe-inverted CMYK (transform 0). Choosing CMYK
    values whose stored bytes are the YCbCr of cyan with K=0 and then setting
    the transform byte to 2 makes libjpeg read the same bytes as YCCK: cyan's
    complement on the CMY plates, i.e. red.
    """
    y, cb, cr = 179, 171, 1  # YCbCr of RGB (0, 255, 255)
    cmyk = Image.new("CMYK", (120, 80), (255 - y, 255 - cb, 255 - cr, 0))
    data = bytearray(save(cmyk, "JPEG", quality=100, subsampling="4:4:4"))
    i = data.index(b"Adobe")
    assert data[i + 11] == 0
    data[i + 11] = 2
    return bytes(data)


MODE_CASES = {
    "RGB JPEG": (lambda: save(halves("RGB", left=RED, right=BLUE), "JPEG", quality=95), "RGB", RED, BLUE),
    "RGB PNG": (lambda: save(halves("RGB", left=RED, right=BLUE), "PNG"), "RGB", RED, BLUE),
    "RGB BMP": (lambda: save(halves("RGB", left=RED, right=BLUE), "BMP"), "RGB", RED, BLUE),
    "RGB TIFF": (lambda: save(halves("RGB", left=RED, right=BLUE), "TIFF"), "RGB", RED, BLUE),
    "RGB WebP": (lambda: save(halves("RGB", left=RED, right=BLUE), "WEBP", quality=95), "RGB", RED, BLUE),
    "L JPEG": (lambda: save(halves("L", left=40, right=210), "JPEG", quality=95), "L", 40, 210),
    "L PNG": (lambda: save(halves("L", left=40, right=210), "PNG"), "L", 40, 210),
    "1-bit PNG": (lambda: save(halves("1", left=0, right=1), "PNG"), "L", 0, 255),
    "1-bit BMP": (lambda: save(halves("1", left=0, right=1), "BMP"), "L", 0, 255),
    "1-bit TIFF": (lambda: save(halves("1", left=0, right=1), "TIFF"), "L", 0, 255),
    "P PNG": (lambda: save(_palette(False), "PNG"), "RGB", RED, BLUE),
    "P GIF": (lambda: save(_palette(False), "GIF"), "RGB", RED, BLUE),
    "CMYK JPEG (Adobe inverted)": (
        lambda: save(halves("CMYK", left=(0, 255, 255, 0), right=(255, 255, 0, 0)), "JPEG", quality=95),
        "RGB",
        (255, 0, 0),
        (0, 0, 255),
    ),
    "CMYK TIFF": (
        lambda: save(halves("CMYK", left=(0, 255, 255, 0), right=(255, 255, 0, 0)), "TIFF"),
        "RGB",
        (255, 0, 0),
        (0, 0, 255),
    ),
    "YCCK JPEG": (_ycck_jpeg, "RGB", (255, 0, 0), (255, 0, 0)),
    "16-bit PNG (I;16)": (
        lambda: save(halves("I;16", left=10000, right=60000), "PNG"),
        "L",
        round(10000 / 257),
        round(60000 / 257),
    ),
    "16-bit TIFF (I;16)": (
        lambda: save(halves("I;16", left=10000, right=60000), "TIFF"),
        "L",
        round(10000 / 257),
        round(60000 / 257),
    ),
    "32-bit TIFF (I)": (
        lambda: save(halves("I", left=1000, right=50000), "TIFF"),
        "L",
        round(1000 / 257),
        round(50000 / 257),
    ),
    "float TIFF (F, 0..1)": (lambda: save(halves("F", left=0.2, right=0.8), "TIFF"), "L", 51, 204),
}


@pytest.mark.parametrize("name", list(MODE_CASES))
def test_every_mode_renders_with_plausible_colours(name: str) -> None:
    make, mode, left, right = MODE_CASES[name]
    data = make()
    opened = open_image(data, SETTINGS)
    assert not opened.has_alpha
    plan = plan_thumbnail(opened.size, 60, None, CropMode.NONE, True, None)
    image = execute(opened, plan, (255, 255, 255, 255))
    assert image.mode == mode
    assert image.size == (60, 40)
    got_left, got_right = sample(image)
    assert near(got_left, left, 14), (got_left, left)
    assert near(got_right, right, 14), (got_right, right)
    # And it encodes as what choose_format picks (opaque: JPEG).
    fmt = choose_format(opened, (), SETTINGS, (255, 255, 255, 255))
    assert fmt == "JPEG"
    out = Image.open(io.BytesIO(encode(image, fmt, 90, opened.icc_profile, 10**7)))
    assert out.mode == mode and near(sample(out)[0], left, 16)


def test_greyscale_padded_with_a_colour_becomes_rgb() -> None:
    data = save(halves("L", left=40, right=210), "PNG")
    grey, _ = render(data, "w=200&h=200")
    assert grey.mode == "L" and grey.getpixel((100, 5)) == 255
    coloured, _ = render(data, "w=200&h=200&pcl=00ff00", fmt="PNG")
    assert coloured.mode == "RGB" and coloured.getpixel((100, 5)) == (0, 255, 0)
    assert near(coloured.getpixel((50, 100)), (40, 40, 40), 3)


def test_palette_with_transparency_keeps_alpha() -> None:
    for fmt in ("PNG", "GIF"):
        data = save(_palette(True), fmt)
        opened = open_image(data, SETTINGS)
        assert opened.has_alpha, fmt
        out, out_fmt = render(data, "w=60")
        assert out_fmt == "PNG" and out.mode == "RGBA" and out.size == (60, 40)
        left, right = sample(out)
        assert left[3] == 0, (fmt, left)
        assert near(right, (*BLUE, 255)), (fmt, right)


def test_la_and_pa_keep_alpha() -> None:
    la = Image.new("LA", (120, 80), (200, 255))
    la.paste((50, 0), (0, 0, 60, 80))
    out, fmt = render(save(la, "PNG"), "w=60")
    assert fmt == "PNG" and out.mode == "RGBA"
    left, right = sample(out)
    assert left[3] == 0 and near(right, (200, 200, 200, 255), 2)

    pa = _palette(False).convert("PA")
    alpha = Image.new("L", pa.size, 255)
    alpha.paste(0, (0, 0, 60, 80))
    pa.putalpha(alpha)
    opened = open_image(save(pa.convert("RGBA"), "PNG"), SETTINGS)
    # PA cannot be written to a file by Pillow; hand execute an in-memory PA image.
    opened = type(opened)(pa, opened.size, "PNG", True, 1, None)
    image = execute(opened, plan_thumbnail(opened.size, 60, None), (255, 255, 255, 255))
    assert image.mode == "RGBA"
    left, right = sample(image)
    assert left[3] == 0 and near(right, (*BLUE, 255))


# ----------------------------------------------------------------------- orientation


def oriented_source(orientation: int, fmt: str, size=(960, 640)) -> bytes:
    """An upright test card stored so that EXIF ``orientation`` shows it upright.

    Upright: outer left band red and outer right band blue (cut by a centred
    square crop), inner green/yellow bands at the crop's left/right edges, a
    magenta block top-centre.
    """
    w, h = size
    up = Image.new("RGB", size, MID)
    c = (w - h) // 2  # the square crop starts here
    up.paste(RED, (0, 0, c, h))
    up.paste(BLUE, (w - c, 0, w, h))
    up.paste(GREEN, (c, 0, c + h // 4, h))
    up.paste(YELLOW, (w - c - h // 4, 0, w - c, h))
    up.paste(MAGENTA, (c + h // 4, 0, w - c - h // 4, h // 4))
    stored = as_stored(up, orientation)
    exif = with_exif_orientation(orientation)
    params: dict[str, object] = {"exif": exif.tobytes()}
    if fmt == "JPEG":
        params["quality"] = 92
    return save(stored, fmt, **params)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_orientation_and_crop_through_the_draft(orientation: int, fmt: str) -> None:
    data = oriented_source(orientation, fmt)
    opened = open_image(data, SETTINGS)
    # Pillow's TIFF reader applies the orientation tag itself while loading.
    assert opened.orientation == (1 if fmt == "TIFF" else orientation)
    assert opened.size.width == 960 and opened.size.height == 640
    # A square c=4 crop of the upright 960x640 card is x 160..800. For JPEG the
    # 640 px crop shrinks to 100 px, so libjpeg decodes at 1/4.
    plan = plan_thumbnail(opened.size, 100, 100, CropMode.BLIND_RATIO, True, None)
    image = execute(opened, plan, (255, 255, 255, 255))
    if fmt == "JPEG":
        assert max(opened.image.size) == 240  # drafted: 960/4
    out = Image.open(io.BytesIO(encode(image, "PNG", 90, None, 10**7)))
    assert out.size == (100, 100)
    assert near(out.getpixel((10, 60)), GREEN, 20), out.getpixel((10, 60))
    assert near(out.getpixel((89, 60)), YELLOW, 20), out.getpixel((89, 60))
    assert near(out.getpixel((50, 10)), MAGENTA, 20), out.getpixel((50, 10))
    assert near(out.getpixel((50, 85)), MID, 20), out.getpixel((50, 85))
    a = arr(out)
    for colour in (RED, BLUE):
        assert not (np.abs(a - np.array(colour)).max(axis=2) < 40).any(), f"{colour} survived"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_without_crop(orientation: int) -> None:
    up = Image.new("RGB", (120, 80), MID)
    up.paste(RED, (0, 0, 60, 40))  # top-left quadrant
    stored = as_stored(up, orientation)
    data = save(stored, "JPEG", quality=95, exif=with_exif_orientation(orientation).tobytes())
    out, _ = render(data, "w=60")
    assert out.size == (60, 40)
    assert near(out.getpixel((10, 8)), RED, 20)
    for xy in ((50, 8), (10, 32), (50, 32)):
        assert near(out.getpixel(xy), MID, 20), (xy, out.getpixel(xy))


# ------------------------------------------------------------------------ animations


def test_animated_gif_renders_the_first_frame() -> None:
    frames = [Image.new("RGB", (80, 60), c) for c in (RED, GREEN, BLUE)]
    data = save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    out, fmt = render(data, "w=40")
    assert fmt == "JPEG" and out.size == (40, 30)
    assert near(out.getpixel((20, 15)), RED, 16)


def test_animated_webp_renders_the_first_frame() -> None:
    frames = [Image.new("RGBA", (80, 60), (*c, 255)) for c in (BLUE, RED, GREEN)]
    data = save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    out, _ = render(data, "w=40", fmt="PNG")
    assert out.size == (40, 30)
    assert near(out.getpixel((20, 15))[:3], BLUE, 6)


# ------------------------------------------------------------------------------ alpha


def rgba_source() -> Image.Image:
    im = Image.new("RGBA", (120, 80), (*BLUE, 255))
    im.paste((0, 0, 0, 0), (0, 0, 60, 80))
    return im


def test_png_rgba_keeps_alpha_and_pads_opaque_white() -> None:
    out, fmt = render(save(rgba_source(), "PNG"), "w=200&h=200")
    assert fmt == "PNG" and out.mode == "RGBA" and out.size == (200, 200)
    assert out.getpixel((100, 5)) == (255, 255, 255, 255)  # padding
    assert out.getpixel((40, 100))[3] == 0  # transparent half stays transparent
    assert near(out.getpixel((150, 100)), (*BLUE, 255), 2)  # content spans x 40..159


def test_pcl_with_alpha_gives_transparent_padding_even_for_a_jpeg_source() -> None:
    data = save(Image.new("RGB", (120, 80), GREY), "JPEG", quality=95)
    out, fmt = render(data, "w=200&h=200&pcl=ff000080")
    assert fmt == "PNG" and out.mode == "RGBA"
    assert out.getpixel((100, 5)) == (255, 0, 0, 0x80)
    assert near(out.getpixel((100, 100)), (*GREY, 255), 6)


def test_webp_keeps_alpha() -> None:
    out, fmt = render(save(rgba_source(), "PNG"), "w=60", accept="image/webp,*/*")
    assert fmt == "WEBP" and out.mode == "RGBA"
    assert out.getpixel((5, 20))[3] == 0 and out.getpixel((55, 20))[3] == 255


def test_jpeg_never_gets_alpha() -> None:
    data = save(rgba_source(), "PNG")
    out, fmt = render(data, "w=60", fmt="JPEG")
    assert fmt == "JPEG" and out.mode == "RGB"
    # Transparent pixels are flattened onto white.
    assert near(out.getpixel((10, 20)), (255, 255, 255), 8)
    assert near(out.getpixel((50, 20)), BLUE, 16)


# ------------------------------------------------------------------- metadata and ICC


def gps_exif() -> Image.Exif:
    exif = with_exif_orientation(1)
    exif[0x010F] = "TestCam"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 36.0)
    return exif


@pytest.mark.parametrize("src_fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("out_fmt", ["JPEG", "PNG", "WEBP"])
def test_no_exif_gps_or_xmp_in_output(src_fmt: str, out_fmt: str) -> None:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret>here</secret></x:xmpmeta>'
    src = Image.new("RGB", (120, 80), GREY)
    params: dict[str, object] = {"exif": gps_exif().tobytes()}
    if src_fmt != "PNG":
        params["xmp"] = xmp
    data = save(src, src_fmt, **params)
    check = Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)
    assert check.get(1) == "N"  # the source really has GPS
    out_bytes, _ = render_bytes(data, request("w=60"), SETTINGS, fmt=out_fmt)
    out = Image.open(io.BytesIO(out_bytes))
    assert "exif" not in out.info and "xmp" not in out.info
    assert len(out.getexif()) == 0
    for marker in (b"Exif\x00\x00", b"TestCam", b"xmpmeta", b"secret"):
        assert marker not in out_bytes


@pytest.mark.parametrize("out_fmt", ["JPEG", "PNG", "WEBP"])
def test_icc_profile_is_kept(out_fmt: str) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = save(Image.new("RGB", (120, 80), GREY), "JPEG", icc_profile=icc)
    out_bytes, _ = render_bytes(data, request("w=60"), SETTINGS, fmt=out_fmt)
    assert Image.open(io.BytesIO(out_bytes)).info.get("icc_profile") == icc


def test_icc_profile_that_does_not_fit_the_output_is_dropped() -> None:
    rgb_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = save(halves("L", left=40, right=210), "PNG", icc_profile=rgb_icc)
    out_bytes, _ = render_bytes(data, request("w=60"), SETTINGS, fmt="PNG")
    out = Image.open(io.BytesIO(out_bytes))
    assert out.mode == "L" and "icc_profile" not in out.info


def test_cmyk_output_is_srgb_without_a_profile() -> None:
    data = save(Image.new("CMYK", (120, 80), (0, 255, 255, 0)), "JPEG", quality=95)
    out_bytes, fmt = render_bytes(data, request("w=60"), SETTINGS)
    out = Image.open(io.BytesIO(out_bytes))
    assert fmt == "JPEG" and out.mode == "RGB" and "icc_profile" not in out.info
    assert near(out.getpixel((30, 20)), (255, 0, 0), 16)


# ------------------------------------------------------------------- a real photograph


def test_real_photograph_draft_matches_a_full_decode() -> None:
    from importlib.resources import files

    data = (files("smartthumb") / "samples" / "rocket.jpg").read_bytes()
    opened = open_image(data, SETTINGS)
    plan = plan_thumbnail(opened.size, 150, 150, CropMode.BLIND_RATIO, True, None)
    image = execute(opened, plan, (255, 255, 255, 255))
    assert image.size == (150, 150)
    assert opened.image.size != (opened.size.width, opened.size.height)  # it was drafted
    full = Image.open(io.BytesIO(data)).convert("RGB")
    reference = full.resize((150, 150), Image.Resampling.LANCZOS, box=plan.crop.as_tuple())
    mse = ((arr(image) - arr(reference)) ** 2).mean()
    assert 10 * np.log10(255**2 / mse) > 30  # PSNR: the drafted path looks like the full one


# ------------------------------------------------------- more container variations


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit-per-channel PNG (RGB or RGBA), written by hand: Pillow cannot write these."""
    import struct
    import zlib

    height, width, channels = pixels.shape
    colour_type = {3: 2, 4: 6}[channels]

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_16_bit_rgb_and_rgba_png() -> None:
    rgb = np.zeros((80, 120, 3), dtype=np.uint16)
    rgb[:, :60] = (220 * 257, 20 * 257, 20 * 257)
    rgb[:, 60:] = (20 * 257, 20 * 257, 220 * 257)
    out, fmt = render(png16(rgb), "w=60")
    assert fmt == "JPEG" and out.size == (60, 40)
    assert near(sample(out)[0], RED, 16) and near(sample(out)[1], BLUE, 16)

    rgba = np.zeros((80, 120, 4), dtype=np.uint16)
    rgba[:, 60:] = (20 * 257, 20 * 257, 220 * 257, 65535)
    out, fmt = render(png16(rgba), "w=60")
    assert fmt == "PNG" and out.mode == "RGBA"
    left, right = sample(out)
    assert left[3] == 0 and near(right, (*BLUE, 255), 3)


def test_animated_png_renders_the_first_frame() -> None:
    frames = [Image.new("RGB", (80, 60), c) for c in (GREEN, RED, BLUE)]
    data = save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    out, _ = render(data, "w=40", fmt="PNG")
    assert out.size == (40, 30) and near(out.getpixel((20, 15)), GREEN, 2)


def test_progressive_jpeg_is_drafted_and_correct() -> None:
    data = oriented_source(6, "JPEG")
    progressive = save(
        Image.open(io.BytesIO(data)),
        "JPEG",
        quality=92,
        progressive=True,
        exif=Image.open(io.BytesIO(data)).info["exif"],
    )
    opened = open_image(progressive, SETTINGS)
    assert opened.image.info.get("progressive") and opened.orientation == 6
    image = execute(opened, plan_thumbnail(opened.size, 100, 100, CropMode.BLIND_RATIO), (255, 255, 255, 255))
    assert max(opened.image.size) == 240
    assert near(image.getpixel((10, 60)), GREEN, 20) and near(image.getpixel((89, 60)), YELLOW, 20)


def test_rgba_padding_takes_the_pcl_alpha() -> None:
    out, fmt = render(save(rgba_source(), "PNG"), "w=200&h=200&pcl=00ff0040")
    assert fmt == "PNG" and out.getpixel((100, 5)) == (0, 255, 0, 0x40)
    assert out.getpixel((41, 100))[3] == 0 and near(out.getpixel((150, 100)), (*BLUE, 255), 2)


# ------------------------------------------------------------------ PNG via libspng


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_sample_photo_png_renders_byte_identical_through_libspng(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """The sample photograph as an 8-bit PNG: libspng's strip-wise decode and Pillow's decoder give the same files."""
    from importlib.resources import files

    from smartthumb.render import png_spng

    sample = (files("smartthumb") / "samples" / "rocket.jpg").read_bytes()
    photo = Image.open(io.BytesIO(sample)).convert("RGBA" if "A" in mode else "RGB")
    if "A" in mode:
        photo.putalpha(Image.linear_gradient("L").resize(photo.size))
    data = save(photo.convert(mode), "PNG")
    assert png_spng._spng_source(open_image(data, SETTINGS)) is not None
    for query, accept in (("w=200&h=200", None), ("w=120&h=90&c=4", "image/webp"), ("w=500", None)):
        fast, fast_fmt = render_bytes(data, request(query), SETTINGS, accepted=accepted_formats(accept))
        with monkeypatch.context() as m:
            m.setattr(png_spng, "execute_png", lambda *args: None)
            slow, slow_fmt = render_bytes(data, request(query), SETTINGS, accepted=accepted_formats(accept))
        assert fast_fmt == slow_fmt and fast == slow, (mode, query)

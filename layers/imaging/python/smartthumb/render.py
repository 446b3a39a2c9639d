"""The Pillow edge: open (header only), execute a :class:`~smartthumb.geometry.Plan`, encode.

Everything here works on untrusted bytes, so every decoder failure becomes an
:class:`~smartthumb.errors.UnsupportedImage` (415) and every size problem a
:class:`~smartthumb.errors.SourceTooLarge` (413); no ``OSError`` escapes.

The pipeline, and why it is ordered this way:

1. :func:`open_image` reads only the header. Pillow is limited to the six
   formats we serve (plus MPO, a multi-picture JPEG) so exotic decoders are
   never reached, and the pixel and frame limits are checked *before* any
   pixel is decoded.
2. :func:`execute` maps the plan's crop box (which is in *oriented*
   coordinates, i.e. after EXIF orientation) back into the stored pixel grid,
   asks libjpeg to decode at the smallest DCT scale (1/8, 1/4, 1/2) whose
   crop is still at least as large as the output, crops and resizes in one
   step (``resize(box=...)`` with a reduce-then-LANCZOS path), and only then
   applies the EXIF orientation -- transposing the small result instead of the
   decoded source saves a full-size copy. Mode conversions that do not have
   to happen at full size (CMYK to RGB, 16-bit to 8-bit) also happen on the
   small image.
3. :func:`encode` writes JPEG, PNG or WebP with no EXIF, GPS or XMP.

Colour profiles: an RGB or greyscale source's ICC profile is copied into the
output unchanged (the pixels are not converted), so colour-managed viewers
show what the source showed. CMYK sources are converted to sRGB (through
their embedded profile when there is one, else Pillow's naive formula) and
the output carries no profile, i.e. it is sRGB. A profile whose colour space
does not match the output mode is dropped rather than written wrongly.

An :class:`OpenedImage` is single-use: :func:`execute` drafts and loads its
image in place.
"""

from __future__ import annotations

import io
import math
import re
import struct
import warnings
from dataclasses import dataclass

from PIL import (
    BmpImagePlugin,  # noqa: F401  (registering the plugins we allow avoids Image.init() importing all of them)
    GifImagePlugin,  # noqa: F401
    Image,
    JpegImagePlugin,  # noqa: F401
    MpoImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    TiffImagePlugin,  # noqa: F401
    WebPImagePlugin,  # noqa: F401
)

from smartthumb import structure
from smartthumb.config import Settings
from smartthumb.errors import OutputTooLarge, SourceTooLarge, UnsupportedImage
from smartthumb.geometry import Box, Plan, Size, plan_thumbnail
from smartthumb.limits import check_jpeg_scans
from smartthumb.request import ThumbRequest

#: Formats Pillow may try, in the order it tries them. MPO (multi-picture JPEG)
#: has no opener of its own: the JPEG plugin returns it, and it is served as JPEG.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")

CONTENT_TYPES: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

#: EXIF orientation -> the transpose that turns stored pixels upright.
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION = 0x0112

#: Final resample filter. LANCZOS is the sharpest of Pillow's filters without
#: ringing artefacts worth mentioning at thumbnail sizes.
RESAMPLE = Image.Resampling.LANCZOS
#: Filter for a *small* final shrink (less than ``SMALL_SHRINK``), which is what
#: is left after a JPEG's DCT draft for large outputs (e.g. 12 MP -> 1200x800
#: decodes at 1/2 and shrinks 1.9x). Measured against a full-decode LANCZOS
#: reference on noisy 12/24 MP photos: BICUBIC is 50.9 dB PSNR where LANCZOS
#: is 52.9 dB and pyvips's thumbnail 48.6 dB, at about 2/3 of LANCZOS's cost
#: (24 MP -> 1200x800 after a 1/4 draft: 48.8 dB; pyvips decodes that one at
#: 1/2 and reaches 54.3 dB, at about the same speed as this path).
RESAMPLE_SMALL_SHRINK = Image.Resampling.BICUBIC
SMALL_SHRINK = 2.0
#: ``resize(reducing_gap=...)``: box-reduce by an integer factor first, so that
#: the final LANCZOS step shrinks by at least this much. Pillow documents 3.0
#: as indistinguishable from a plain resize; smaller is faster. Measured
#: against a plain LANCZOS resize of a noisy 12 MP PNG: 1.8 gives 52.7 dB PSNR
#: at 1067x800 (2.5x faster than 2.5, which does not reduce there at all) and
#: 51 dB at 200x150; after a JPEG draft at 1/8 (24 MP -> 200 px) 50.9 dB, where
#: pyvips's own thumbnail is 45.7 dB from the same reference.
REDUCING_GAP = 1.8
#: The JPEG DCT draft must leave the crop at least this many times the output
#: size. 1.0 lets libjpeg do as much of the shrink as possible (its scaled IDCT
#: is a proper low-pass, not a nearest-neighbour skip); the remaining LANCZOS
#: step is then always a shrink of 1x..2x (more at the 1/8 limit).
DRAFT_MARGIN = 1.0

_JPEG_FORMATS = ("JPEG", "MPO")
_LOAD_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, struct.error)


@dataclass(frozen=True)
class OpenedImage:
    """A source after reading its header: nothing is decoded yet."""

    image: Image.Image
    size: Size  # after EXIF orientation
    format: str  # "JPEG" (also for MPO), "PNG", "GIF", "WEBP", "TIFF", "BMP"
    has_alpha: bool
    orientation: int  # EXIF 1..8 still to apply (1 for TIFF: Pillow's reader applies it while loading)
    icc_profile: bytes | None
    #: The container scan (``smartthumb.structure``) and the bytes a decode may add.
    facts: structure.Facts | None = None
    decode_budget: int = 0


# --------------------------------------------------------------------------- open


def _gif_scan(data: bytes, frame_limit: int) -> tuple[int, int]:
    """Walk a GIF's blocks without decoding: (frames seen, largest frame extent in pixels).

    Stops after ``frame_limit + 1`` frames. Pillow's own ``n_frames`` also walks
    the file but cannot stop early, and a frame may reach past the logical
    screen (Pillow then grows the canvas), so each frame's extent is measured.
    A malformed stream just ends the walk; Pillow's decoder judges it later.
    """
    n = len(data)
    if n < 13:
        return 0, 0
    screen_w, screen_h, packed = struct.unpack_from("<HHB", data, 6)
    largest = screen_w * screen_h
    pos = 13
    if packed & 0x80:
        pos += 3 << ((packed & 7) + 1)
    frames = 0
    while pos < n and frames <= frame_limit:
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x2C:  # image descriptor
            if pos + 10 > n:
                break
            left, top, w, h, packed = struct.unpack_from("<HHHHB", data, pos + 1)
            largest = max(largest, (left + w) * (top + h))
            frames += 1
            pos += 10
            if packed & 0x80:
                pos += 3 << ((packed & 7) + 1)
            pos += 1  # LZW minimum code size
        elif block == 0x21:  # extension: label, then sub-blocks
            pos += 2
        else:
            break
        while pos < n:  # sub-blocks
            size = data[pos]
            pos += 1 + size
            if size == 0:
                break
    return frames, largest


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation still to apply, read without decoding pixels.

    Pillow's TIFF reader applies the Orientation tag itself (its ``size`` is
    already upright and ``load()`` transposes), so TIFF needs nothing: 1.
    Pillow's PNG ``getexif()`` decodes the whole image when the eXIf chunk is
    not before IDAT, so for PNG only the header's chunk is consulted.
    """
    if im.format == "TIFF":
        return 1
    try:
        if im.format == "PNG":
            raw = im.info.get("exif")
            if not raw:
                return 1
            exif = Image.Exif()
            exif.load(raw)
        else:
            exif = im.getexif()
        value = int(exif.get(_EXIF_ORIENTATION, 1))
    except Exception:  # a corrupt EXIF block is not worth refusing the image for
        return 1
    return value if 1 <= value <= 8 else 1


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def open_image(data: bytes, settings: Settings) -> OpenedImage:
    """Read the header of ``data`` and check the limits; decode nothing.

    Raises :class:`UnsupportedImage` for anything that is not one of the
    allowed formats and :class:`SourceTooLarge` when the pixels or frames are
    over the configured limits.
    """
    if not data:
        raise UnsupportedImage("the source is empty")
    # Counts and memory from the container structure, before any decoder runs.
    facts = structure.check(data, settings)
    # Pillow's own guard, as a second line of defence (it warns above the
    # limit and raises above twice the limit; the warning is made an error).
    Image.MAX_IMAGE_PIXELS = settings.max_source_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
            fmt = "JPEG" if im.format == "MPO" else str(im.format)
            if fmt == "GIF":
                frames, largest = _gif_scan(data, settings.max_animation_frames)
            else:
                frames = int(getattr(im, "n_frames", 1) or 1)
                largest = 0
            if frames > 1:
                im.seek(0)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SourceTooLarge(f"the source has more than {settings.max_source_pixels} pixels") from exc
    except MemoryError:
        raise
    except Exception as exc:  # UnidentifiedImageError, OSError, SyntaxError, struct.error, ...
        raise UnsupportedImage("the source is not a supported image (JPEG, PNG, GIF, WebP, TIFF or BMP)") from exc

    width, height = im.size
    if width <= 0 or height <= 0:
        raise UnsupportedImage("the source has no pixels")
    if max(width * height, largest) > settings.max_source_pixels:
        raise SourceTooLarge(f"the source has more than {settings.max_source_pixels} pixels")
    if frames > settings.max_animation_frames:
        raise SourceTooLarge(f"the source has more than {settings.max_animation_frames} frames")
    if fmt == "JPEG":
        # A scan bomb costs minutes of CPU under every other limit (see smartthumb.limits).
        check_jpeg_scans(data)

    orientation = _orientation(im)
    size = Size(height, width) if orientation >= 5 else Size(width, height)
    icc = im.info.get("icc_profile") or None
    return OpenedImage(
        image=im,
        size=size,
        format=fmt,
        has_alpha=_has_alpha(im),
        orientation=orientation,
        icc_profile=icc,
        facts=facts,
        decode_budget=structure.decode_budget(settings),
    )


# ------------------------------------------------------------------------ execute


def stored_box(box: Box, stored: Size, orientation: int) -> tuple[int, int, int, int]:
    """Map a box in oriented (upright) coordinates to the stored pixel grid.

    ``stored`` is the size of the pixels as encoded, before orientation. The
    result is Pillow's ``(left, upper, right, lower)``.
    """
    W, H = stored.width, stored.height
    x0, y0, x1, y1 = box.x, box.y, box.right, box.bottom
    if orientation == 2:
        return (W - x1, y0, W - x0, y1)
    if orientation == 3:
        return (W - x1, H - y1, W - x0, H - y0)
    if orientation == 4:
        return (x0, H - y1, x1, H - y0)
    if orientation == 5:  # transpose
        return (y0, x0, y1, x1)
    if orientation == 6:  # stored rotated 90° counter-clockwise; upright x runs up the stored image
        return (y0, H - x1, y1, H - x0)
    if orientation == 7:  # transverse
        return (W - y1, H - x1, W - y0, H - x0)
    if orientation == 8:
        return (W - y1, x0, W - y0, x1)
    return (x0, y0, x1, y1)


def _draft_scale(crop_w: int, crop_h: int, out_w: int, out_h: int) -> int:
    for s in (8, 4, 2):
        if crop_w / s >= out_w * DRAFT_MARGIN and crop_h / s >= out_h * DRAFT_MARGIN:
            return s
    return 1


def _decode(opened: OpenedImage, crop: tuple[int, int, int, int], out: tuple[int, int]) -> tuple[Image.Image, float]:
    """Decode (drafted for JPEG); return the image and the stored-to-decoded scale."""
    im = opened.image
    scale = 1
    if opened.format == "JPEG":
        s = _draft_scale(crop[2] - crop[0], crop[3] - crop[1], out[0], out[1])
        if s > 1 and im.mode in ("RGB", "L", "CMYK"):
            width, height = im.size
            # Asking for (W//s, H//s) makes Pillow pick exactly s (see JpegImageFile.draft).
            # Pillow ignores a second draft() (an OpenedImage executed twice).
            im.draft(None, (width // s, height // s))
        # The scale actually in effect, whoever set it.
        config = getattr(im, "decoderconfig", ())
        scale = int(config[0]) if config and int(config[0]) in (2, 4, 8) else 1
    if opened.facts is not None and opened.facts.format:
        structure.require(opened.facts, opened.decode_budget, scale)  # at the real draft scale: 413
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SourceTooLarge("the source frame is over the pixel limit") from exc
    except MemoryError:
        raise
    except _LOAD_ERRORS as exc:
        raise UnsupportedImage("the source image is truncated or corrupt") from exc
    return im, scale


def _working_mode(im: Image.Image) -> Image.Image:
    """Convert at full size only what Pillow cannot resample: palettes, 1-bit, odd modes.

    CMYK, L, LA, RGB, RGBA, I and F resample as they are (LA/RGBA premultiplied
    by Pillow) and are finished on the small image at the end of :func:`execute`.
    """
    mode = im.mode
    transparent = "transparency" in im.info
    if mode in ("RGB", "RGBA", "L", "LA", "CMYK", "F", "I"):
        if transparent and mode in ("RGB", "L"):
            return im.convert("RGBA" if mode == "RGB" else "LA")
        return im
    if mode == "1":
        return im.convert("L")
    if mode == "P":
        return im.convert("RGBA" if transparent else "RGB")
    if mode == "PA":
        return im.convert("RGBA")
    if mode.startswith("I;16"):
        return im.convert("F")  # resample in float; scaled to 8 bits afterwards
    if mode in ("RGBa", "La"):
        return im.convert(mode[0:-1] + "A")
    return im.convert("RGB")  # RGBX, YCbCr, LAB, HSV


def _to_grey8(im: Image.Image, source_mode: str) -> Image.Image:
    """16-bit / 32-bit / float greyscale to 8-bit L.

    ``I;16`` is scaled from 0..65535. ``I`` is treated as 16-bit when it uses
    values over 255, else as 8-bit. ``F`` within 0..1 is scaled to 0..255,
    above 255 treated as 16-bit. (Pillow's own ``convert("L")`` clips instead of
    scaling, which turns most 16-bit images white.)
    """
    if im.mode != "F":
        im = im.convert("F")
    low, high = im.getextrema()
    if source_mode.startswith("I;16") or high > 255:
        factor = 255 / 65535
    elif source_mode == "F" and low >= 0 and high <= 1.0:
        factor = 255.0
    else:
        factor = 1.0
    if factor != 1.0:
        im = im.point(lambda v: v * factor)
    return im.convert("L")


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    if icc and icc[16:20] == b"CMYK":
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
        except Exception:  # a broken profile: fall back to the naive formula
            pass
    return im.convert("RGB")


def keeps_alpha(opened: OpenedImage, pad_color: tuple[int, int, int, int]) -> bool:
    """Whether the output carries an alpha channel (then PNG or WebP, never JPEG)."""
    return opened.has_alpha or pad_color[3] < 255


def execute(opened: OpenedImage, plan: Plan, pad_color: tuple[int, int, int, int]) -> Image.Image:
    """Decode, crop, resize, orient and pad as ``plan`` says.

    The result is ``RGBA`` when :func:`keeps_alpha`, else ``RGB`` -- or ``L``
    for a greyscale source unless a non-grey padding colour is painted.
    """
    orientation = opened.orientation
    swapped = orientation >= 5
    stored = Size(opened.size.height, opened.size.width) if swapped else opened.size
    crop = stored_box(plan.crop, stored, orientation)
    out_w, out_h = (plan.content.height, plan.content.width) if swapped else (plan.content.width, plan.content.height)

    # 8-bit non-palette PNGs: libspng, decoded and reduced in strips (None: Pillow decodes).
    fast = None
    if opened.format == "PNG":
        from smartthumb import png_spng  # deferred: it imports render

        fast = png_spng.execute_png(opened, crop, (out_w, out_h))
    if fast is None:
        im, scale = _decode(opened, crop, (out_w, out_h))
        source_mode = im.mode
    else:
        im, scale = fast, 1
        source_mode = im.mode
    try:
        if fast is None:
            im = _working_mode(im)
            full = (0, 0, im.size[0], im.size[1])
            box = (
                min(crop[0] / scale, im.size[0]),
                min(crop[1] / scale, im.size[1]),
                min(crop[2] / scale, im.size[0]),
                min(crop[3] / scale, im.size[1]),
            )
            if (out_w, out_h) == im.size and box == full:
                pass  # nothing to resample
            elif (out_w, out_h) == (crop[2] - crop[0], crop[3] - crop[1]) and scale == 1:
                im = im.crop(crop)  # a crop without scaling: no filter blur
            else:
                shrink = max((box[2] - box[0]) / out_w, (box[3] - box[1]) / out_h)
                resample = RESAMPLE_SMALL_SHRINK if shrink < SMALL_SHRINK else RESAMPLE
                im = im.resize((out_w, out_h), resample, box=box, reducing_gap=REDUCING_GAP)
        if orientation in _TRANSPOSE:
            im = im.transpose(_TRANSPOSE[orientation])
    except _LOAD_ERRORS as exc:  # lazily decoded formats can still fail here
        raise UnsupportedImage("the source image is truncated or corrupt") from exc

    # Finish the mode on the small image.
    if im.mode == "CMYK":
        im = _cmyk_to_rgb(im, opened.icc_profile)
    elif im.mode in ("F", "I"):
        im = _to_grey8(im, source_mode)

    alpha = keeps_alpha(opened, pad_color)
    grey_pad = pad_color[0] == pad_color[1] == pad_color[2]
    if alpha:
        target = "RGBA"
    elif im.mode in ("L", "LA") and (grey_pad or not plan.padded):
        target = "L"
    else:
        target = "RGB"
    if im.mode != target:
        im = im.convert(target)

    if plan.padded:
        fill: tuple[int, ...] | int
        if target == "RGBA":
            fill = pad_color
        elif target == "L":
            fill = pad_color[0]
        else:
            fill = pad_color[:3]
        canvas = Image.new(target, (plan.canvas.width, plan.canvas.height), fill)
        canvas.paste(im, plan.offset)
        im = canvas
    elif im is opened.image:
        im = im.copy()  # never hand back the source object itself
    im.info = {}  # nothing of the source's metadata travels further
    return im


# ------------------------------------------------------------------------ encode

_MEDIA_RANGE = re.compile(r"^\s*([^;\s]+)\s*(.*)$")


def _accept_q(accept: str, media_type: str) -> float | None:
    """The q-value ``accept`` gives exactly ``media_type`` (None if not listed)."""
    best: float | None = None
    for item in accept.split(","):
        match = _MEDIA_RANGE.match(item)
        if not match or match.group(1).lower() != media_type:
            continue
        q = 1.0
        for param in match.group(2).split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not math.isfinite(q):
                    q = 0.0
        best = q if best is None else max(best, q)
    return best


def accepts_webp(accept: str | None) -> bool:
    """True when ``Accept`` names ``image/webp`` with a q-value above 0.

    Wildcards (``*/*``, ``image/*``) do not count: every client sends them,
    including ones that cannot show WebP (curl, old Safari), and browsers that
    can decode WebP list it explicitly.
    """
    if not accept:
        return False
    q = _accept_q(accept, "image/webp")
    return q is not None and q > 0


def choose_format(
    opened: OpenedImage, accept: str | None, settings: Settings, pad_color: tuple[int, int, int, int]
) -> str:
    """``"WEBP"`` if enabled and accepted, else ``"PNG"`` when alpha is kept, else ``"JPEG"``."""
    if settings.enable_webp and accepts_webp(accept):
        return "WEBP"
    return "PNG" if keeps_alpha(opened, pad_color) else "JPEG"


_ICC_SPACE = {"RGB": b"RGB ", "RGBA": b"RGB ", "L": b"GRAY", "LA": b"GRAY"}


def _icc_for(image: Image.Image, icc: bytes | None) -> bytes | None:
    """The profile if its colour space matches the pixels, else None."""
    if not icc or len(icc) < 128:
        return None
    return icc if icc[16:20] == _ICC_SPACE.get(image.mode) else None


def _save(image: Image.Image, fmt: str, quality: int, icc: bytes | None, level: int = 3) -> bytes:
    buf = io.BytesIO()
    params: dict[str, object] = {}
    if icc:
        params["icc_profile"] = icc
    if fmt == "JPEG":
        params.update(
            quality=quality,
            optimize=False,
            progressive=False,
            # Chroma subsampling is invisible at normal qualities and halves the
            # work; at 90+ the caller asked for fidelity.
            subsampling="4:4:4" if quality >= 90 else "4:2:0",
        )
    elif fmt == "WEBP":
        params.update(quality=quality, method=4)
    elif fmt == "PNG":
        params.update(compress_level=level)
    else:
        raise ValueError(f"unknown output format {fmt!r}")
    # Pillow's PNG writer falls back to image.info for the ICC profile and
    # transparency: save with an empty info so only what we pass is written.
    saved_info, image.info = image.info, {}
    try:
        image.save(buf, fmt, **params)
    finally:
        image.info = saved_info
    return buf.getvalue()


def encode(image: Image.Image, fmt: str, quality: int, icc_profile: bytes | None, max_bytes: int) -> bytes:
    """Encode without EXIF/GPS/XMP; keep ``icc_profile`` when it fits the pixels.

    JPEG flattens any alpha onto white. Over ``max_bytes``, JPEG and WebP are
    retried at lower qualities and PNG at the highest compression; still too
    large raises :class:`OutputTooLarge`.
    """
    fmt = fmt.upper()
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        if image.mode in ("RGBA", "LA", "RGBa", "La", "PA", "P"):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, (0, 0), rgba)
            image = flat
        else:
            image = image.convert("RGB")
    icc = _icc_for(image, icc_profile)
    quality = max(1, min(100, int(quality)))

    data = _save(image, fmt, quality, icc)
    if len(data) <= max_bytes:
        return data
    if fmt == "PNG":
        data = _save(image, fmt, quality, icc, level=9)
    else:
        for q in (quality * 3 // 4, quality // 2, quality // 4):
            if q < 10:
                break
            data = _save(image, fmt, q, icc)
            if len(data) <= max_bytes:
                return data
    if len(data) <= max_bytes:
        return data
    raise OutputTooLarge(f"the encoded thumbnail is over {max_bytes} bytes; ask for a smaller size")


# --------------------------------------------------------------------- convenience


def render_bytes(
    data: bytes,
    request: ThumbRequest,
    settings: Settings,
    *,
    region: Box | None = None,
    accept: str | None = None,
    fmt: str | None = None,
) -> tuple[bytes, str]:
    """Source bytes to encoded thumbnail in one call: ``(encoded, format)``.

    ``fmt`` forces the output format (the CLI's ``-o out.png``); otherwise it
    is chosen as the service would from ``accept``.
    """
    opened = open_image(data, settings)
    plan = plan_thumbnail(opened.size, request.width, request.height, request.crop, request.pad, region)
    image = execute(opened, plan, request.pad_color)
    out_fmt = (fmt or choose_format(opened, accept, settings, request.pad_color)).upper()
    if out_fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown output format {out_fmt!r}")
    quality = request.quality or settings.default_quality
    return encode(image, out_fmt, quality, opened.icc_profile, settings.max_output_bytes), out_fmt


__all__ = [
    "ALLOWED_FORMATS",
    "CONTENT_TYPES",
    "OpenedImage",
    "accepts_webp",
    "choose_format",
    "encode",
    "execute",
    "keeps_alpha",
    "open_image",
    "render_bytes",
    "stored_box",
]

"""Open an untrusted source: header checks and decode guards, nothing decoded.

Every decoder failure becomes an :class:`~smartthumb.errors.UnsupportedImage`
(415) and every size problem a :class:`~smartthumb.errors.SourceTooLarge`
(413); no ``OSError`` escapes. This module owns both halves of that promise:

* :func:`open_image` first scans the container structure from the bytes
  (:mod:`smartthumb.structure`: metadata floods, IFD chains, RLE bitmaps and
  the decode's memory against the function's are refused before Pillow sees
  the file), then reads only the header. Pillow is limited to the six
  formats we serve (plus MPO, a multi-picture JPEG) so exotic decoders are
  never reached, and the pixel, frame and JPEG-scan limits are checked
  *before* any pixel is decoded.
* :func:`load_guarded` is the one place pixels are decoded by Pillow (the
  :mod:`~smartthumb.render.execute` step calls it), with Pillow's bomb
  warning made an error and every decoder exception mapped.

**JPEG scans.** A progressive JPEG may hold any number of scans, and libjpeg
walks every block of a component for each one, even a scan that carries no
data. A dozen bytes per scan repeated 100 000 times on a 4096x4096 image took
23 s to decode (drafted) here, under every byte and pixel limit. Encoders
write about ten scans (libjpeg's default progression) to a few dozen, so more
than :data:`MAX_JPEG_SCANS` is refused before decoding (:func:`check_jpeg_scans`).

An :class:`OpenedImage` is single-use: :func:`~smartthumb.render.execute`
drafts and loads its image in place.
"""

from __future__ import annotations

import io
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

from smartthumb import heif_header, heif_plugins, structure
from smartthumb.config import Settings
from smartthumb.errors import SourceTooLarge, UnsupportedImage
from smartthumb.geometry import Size

#: Formats Pillow may try, in the order it tries them. MPO (multi-picture JPEG)
#: has no opener of its own: the JPEG plugin returns it, and it is served as JPEG.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")
#: Sources that may stay animated (more frames than MAX_ANIMATION_FRAMES: the first frame, not a 413).
ANIMATED_FORMATS = ("GIF", "WEBP")

#: Most scans a JPEG may have (see the module docstring).
MAX_JPEG_SCANS = 256

_EXIF_ORIENTATION = 0x0112

#: What Pillow's decoders raise on a truncated or corrupt stream, while loading
#: or (lazily decoded formats) on the first operation on the pixels.
LOAD_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, struct.error)


@dataclass(frozen=True)
class OpenedImage:
    """A source after reading its header: nothing is decoded yet."""

    image: Image.Image
    size: Size  # after EXIF orientation
    format: str  # "JPEG" (also for MPO), "PNG", "GIF", "WEBP", "TIFF", "BMP"
    has_alpha: bool
    orientation: int  # EXIF 1..8 still to apply (1 for TIFF: Pillow's reader applies it while loading)
    icc_profile: bytes | None
    frames: int = 1  # frames seen (a GIF's are counted up to MAX_ANIMATION_FRAMES + 1)
    #: The container scan (``smartthumb.structure``) and the bytes a decode may add.
    facts: structure.Facts | None = None
    decode_budget: int = 0


def keeps_alpha(opened: OpenedImage, pad_color: tuple[int, int, int, int]) -> bool:
    """Whether the output carries an alpha channel (then PNG or WebP, never JPEG)."""
    return opened.has_alpha or pad_color[3] < 255


def check_jpeg_scans(data: bytes, limit: int = MAX_JPEG_SCANS) -> None:
    """Refuse a JPEG with more than ``limit`` scans (413), without decoding.

    Counts start-of-scan markers (``FF DA``). Inside entropy-coded data an
    ``FF`` byte is always followed by ``00`` or a restart marker, so this
    counts real scans, plus at most those of an embedded EXIF thumbnail.
    """
    if data[:2] == b"\xff\xd8" and data.count(b"\xff\xda") > limit:
        raise SourceTooLarge(f"the JPEG has more than {limit} scans")


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
    # Counts from the container structure, before any decoder reads the file.
    facts = structure.check(data, settings)
    if facts.format == "WEBP":
        # Pillow's WebP opener already allocates libwebp's canvases (two RGBA frames) to read the
        # header, so the budgets come first here (a 100 Mpx one failed that allocation: a 415).
        structure.check_memory(facts, settings)
        structure.check_cpu(facts, len(data), settings)
    # Pillow's own guard, as a second line of defence (it warns above the
    # limit and raises above twice the limit; the warning is made an error).
    Image.MAX_IMAGE_PIXELS = settings.max_source_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            heif_kind = heif_header.sniff(data)
            if heif_kind is not None:  # HEIC/AVIF: their own header check (box walk) before libheif/libavif
                im = heif_plugins.open_heif(data, heif_kind, settings.max_source_pixels)
            else:
                im = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
            fmt = "JPEG" if im.format == "MPO" else str(im.format)
            if fmt in ("GIF", "TIFF") and facts.format == fmt:
                # Counted by the structure walk, which stops early; Pillow's n_frames cannot
                # (TIFF: it loads every IFD, ~O(n²)). A GIF frame may reach past the screen.
                frames, largest = facts.frames, facts.pixels
            else:
                frames = int(getattr(im, "n_frames", 1) or 1)
                largest = 0
            if frames > 1:
                im.seek(0)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SourceTooLarge(f"the source has more than {settings.max_source_pixels} pixels") from exc
    except (MemoryError, SourceTooLarge, UnsupportedImage):
        raise
    except Exception as exc:  # UnidentifiedImageError, OSError, SyntaxError, struct.error, ...
        raise UnsupportedImage(
            "the source is not a supported image (JPEG, PNG, GIF, WebP, TIFF, BMP, HEIC or AVIF)"
        ) from exc

    width, height = im.size
    if width <= 0 or height <= 0:
        raise UnsupportedImage("the source has no pixels")
    if max(width * height, largest) > settings.max_source_pixels:
        raise SourceTooLarge(f"the source has more than {settings.max_source_pixels} pixels")
    if frames > settings.max_animation_frames and fmt not in ANIMATED_FORMATS:
        raise SourceTooLarge(f"the source has more than {settings.max_animation_frames} frames")
    if fmt == "JPEG":
        # A scan bomb costs minutes of CPU under every other limit (see the module docstring).
        check_jpeg_scans(data)
    # What the decode will hold (coefficient buffers, 16-bit frames) against the function's memory,
    # and what it will cost in CPU (a genuine 100 Mpx progressive JPEG: 1.5 s whatever draft does).
    structure.check_memory(facts, settings)
    structure.check_cpu(facts, len(data), settings)

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
        frames=frames,
        facts=facts,
        decode_budget=structure.decode_budget(settings),
    )


def check_decode_memory(opened: OpenedImage, scale: int) -> None:
    """Refuse (413) a decode at a 1/``scale`` draft that would not fit the function's memory."""
    if opened.facts is not None and opened.facts.format:
        structure.require(opened.facts, opened.decode_budget, scale)


def load_guarded(im: Image.Image) -> Image.Image:
    """Decode ``im``'s pixels in place: a bomb is :class:`SourceTooLarge`, a broken stream :class:`UnsupportedImage`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SourceTooLarge("the source frame is over the pixel limit") from exc
    except MemoryError:
        raise
    except LOAD_ERRORS as exc:
        raise UnsupportedImage("the source image is truncated or corrupt") from exc
    return im

"""Execute a :class:`~smartthumb.geometry.Plan` on an opened source: a list of small steps.

The steps, in order (:data:`STEPS`), and why they are ordered this way:

1. :func:`decode` maps the plan's crop box (which is in *oriented*
   coordinates, i.e. after EXIF orientation) back into the stored pixel grid
   (done once, in :class:`Work`), and decodes: 8-bit PNGs through libspng in
   strips, already reduced (:mod:`~smartthumb.render.png_spng`); JPEG at the
   smallest DCT scale (1/8, 1/4, 1/2) whose crop still covers the output; the
   rest through Pillow.
2. :func:`resample` executes :func:`smartthumb.render.resample.decide`: crop
   and resize in one step (``resize(box=...)`` with a reduce-then-LANCZOS path).
3. :func:`orient` applies the EXIF orientation -- transposing the small result
   instead of the decoded source saves a full-size copy.
4. :func:`finish_mode` does the mode conversions that need not happen at full
   size (CMYK to RGB, 16-bit to 8-bit) on the small image, and picks the
   output mode.
5. :func:`pad` paints the canvas and drops the source's metadata.

Like imgproxy's pipeline, :func:`execute` checks the request's
:class:`~smartthumb.limits.Deadline` between steps, so a request whose time
is gone stops with a clean 503 instead of finishing work nobody receives.

Colour profiles: an RGB or greyscale source's small standard ICC profile is
copied into the output unchanged (the pixels are not converted;
:mod:`~smartthumb.render.encode` writes it), so colour-managed viewers show
what the source showed; a large or unusual RGB profile is applied to the small
image (converted to sRGB) and dropped (:mod:`~smartthumb.render.icc`). CMYK
sources are converted to sRGB (through their embedded profile when there is
one, else Pillow's naive formula) and the output carries no profile.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from smartthumb.errors import UnsupportedImage
from smartthumb.geometry import Box, Plan, Size, to_stored_rect
from smartthumb.limits import Deadline
from smartthumb.render import png_spng
from smartthumb.render.icc import to_srgb
from smartthumb.render.open import LOAD_ERRORS, OpenedImage, check_decode_memory, keeps_alpha, load_guarded
from smartthumb.render.resample import REDUCING_GAP, Action, Crop, decide, draft_scale

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


def stored_box(box: Box, stored: Size, orientation: int) -> tuple[int, int, int, int]:
    """Map a box in oriented (upright) coordinates to the stored pixel grid.

    ``stored`` is the size of the pixels as encoded, before orientation. The
    result is Pillow's ``(left, upper, right, lower)``
    (:func:`smartthumb.geometry.to_stored_rect` on whole pixels).
    """
    x0, y0, x1, y1 = to_stored_rect((box.x, box.y, box.right, box.bottom), stored, orientation)
    return (int(x0), int(y0), int(x1), int(y1))


def _working_mode(im: Image.Image) -> Image.Image:
    """Convert at full size only what Pillow cannot resample: palettes, 1-bit, odd modes.

    CMYK, L, LA, RGB, RGBA, I and F resample as they are (LA/RGBA premultiplied
    by Pillow) and are finished on the small image at the end (:func:`finish_mode`).
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


@dataclass(slots=True)
class Work:
    """One execution's state, handed from step to step."""

    opened: OpenedImage
    plan: Plan
    pad_color: tuple[int, int, int, int]
    crop: Crop  # the plan's crop in the stored grid
    out: tuple[int, int]  # the content size in the stored orientation
    image: Image.Image | None = None
    scale: int = 1  # stored pixels per decoded pixel (a JPEG draft)
    source_mode: str = ""  # the decoded frame's mode, before any conversion
    resampled: bool = False  # the decoder already cropped and resized (libspng)

    @classmethod
    def start(cls, opened: OpenedImage, plan: Plan, pad_color: tuple[int, int, int, int]) -> Work:
        orientation = opened.orientation
        swapped = orientation >= 5
        stored = Size(opened.size.height, opened.size.width) if swapped else opened.size
        content = plan.content
        out = (content.height, content.width) if swapped else (content.width, content.height)
        return cls(opened, plan, pad_color, stored_box(plan.crop, stored, orientation), out)

    @property
    def pixels(self) -> Image.Image:
        assert self.image is not None, "decode runs first"
        return self.image


Step = Callable[[Work], None]


def _lazy_errors(step: Step) -> Step:
    """Lazily decoded formats can still fail on the first pixel operation: 415, as while loading."""

    def guarded(work: Work) -> None:
        try:
            step(work)
        except LOAD_ERRORS as exc:
            raise UnsupportedImage("the source image is truncated or corrupt") from exc

    guarded.__name__ = step.__name__
    guarded.__doc__ = step.__doc__
    return guarded


def decode(work: Work) -> None:
    """Decode: libspng for the PNGs it takes (cropped and resized already), else Pillow (drafted for JPEG)."""
    opened = work.opened
    if opened.format == "PNG":
        fast = png_spng.execute_png(opened, work.crop, work.out)  # None: Pillow decodes
        if fast is not None:
            work.image, work.source_mode, work.resampled = fast, fast.mode, True
            return
    im = opened.image
    if opened.format == "JPEG":
        crop, (out_w, out_h) = work.crop, work.out
        s = draft_scale(crop[2] - crop[0], crop[3] - crop[1], out_w, out_h)
        if s > 1 and im.mode in ("RGB", "L", "CMYK"):
            width, height = im.size
            # Asking for (W//s, H//s) makes Pillow pick exactly s (see JpegImageFile.draft).
            # Pillow ignores a second draft() (an OpenedImage executed twice).
            im.draft(None, (width // s, height // s))
        # The scale actually in effect, whoever set it.
        config = getattr(im, "decoderconfig", ())
        work.scale = int(config[0]) if config and int(config[0]) in (2, 4, 8) else 1
    check_decode_memory(opened, work.scale)  # at the real draft scale: 413 before libjpeg allocates
    work.image = load_guarded(im)
    work.source_mode = im.mode


@_lazy_errors
def resample(work: Work) -> None:
    """Crop and resize as :func:`~smartthumb.render.resample.decide` says (the libspng path has done it)."""
    if work.resampled:
        return
    im = _working_mode(work.pixels)
    decision = decide(work.crop, im.size, work.scale, work.out)
    if decision.action is Action.CROP:
        im = im.crop(decision.crop)  # a crop without scaling: no filter blur
    elif decision.action is Action.RESIZE:
        im = im.resize(decision.out, decision.filter, box=decision.box, reducing_gap=REDUCING_GAP)
    work.image = im


@_lazy_errors
def orient(work: Work) -> None:
    """Apply the EXIF orientation to the small image."""
    transpose = _TRANSPOSE.get(work.opened.orientation)
    if transpose is not None:
        work.image = work.pixels.transpose(transpose)


def finish_mode(work: Work) -> None:
    """CMYK and deep greyscale to 8 bits, then the output mode.

    ``RGBA`` when :func:`~smartthumb.render.open.keeps_alpha`, else ``RGB`` --
    or ``L`` for a greyscale source unless a non-grey padding colour is painted.
    """
    im = work.pixels
    if im.mode == "CMYK":
        im = _cmyk_to_rgb(im, work.opened.icc_profile)
    elif im.mode in ("F", "I"):
        im = _to_grey8(im, work.source_mode)
    else:
        im = to_srgb(im, work.opened.icc_profile)  # a large or odd profile: applied here, dropped on encode
    pad_color = work.pad_color
    grey_pad = pad_color[0] == pad_color[1] == pad_color[2]
    if keeps_alpha(work.opened, pad_color):
        target = "RGBA"
    elif im.mode in ("L", "LA") and (grey_pad or not work.plan.padded):
        target = "L"
    else:
        target = "RGB"
    work.image = im if im.mode == target else im.convert(target)


def pad(work: Work) -> None:
    """Paint the padded canvas; never hand back the source object; no source metadata travels further."""
    im, plan, pad_color = work.pixels, work.plan, work.pad_color
    if plan.padded:
        fill: tuple[int, ...] | int
        if im.mode == "RGBA":
            fill = pad_color
        elif im.mode == "L":
            fill = pad_color[0]
        else:
            fill = pad_color[:3]
        canvas = Image.new(im.mode, (plan.canvas.width, plan.canvas.height), fill)
        canvas.paste(im, plan.offset)
        im = canvas
    elif im is work.opened.image:
        im = im.copy()
    im.info = {}
    work.image = im


#: The pipeline, in order.
STEPS: tuple[Step, ...] = (decode, resample, orient, finish_mode, pad)


def execute(
    opened: OpenedImage, plan: Plan, pad_color: tuple[int, int, int, int], deadline: Deadline | None = None
) -> Image.Image:
    """Decode, crop, resize, orient and pad as ``plan`` says, checking ``deadline`` before each step.

    The result is ``RGBA`` when :func:`~smartthumb.render.open.keeps_alpha`,
    else ``RGB`` -- or ``L`` for a greyscale source unless a non-grey padding
    colour is painted.
    """
    work = Work.start(opened, plan, pad_color)
    for step in STEPS:
        if deadline is not None:
            deadline.check()
        step(work)
    return work.pixels

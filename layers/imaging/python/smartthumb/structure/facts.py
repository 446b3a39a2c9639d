"""What a container scan learns from the bytes, and the counts it refuses.

Pure data: no Pillow, no I/O. Each format's walker (``jpeg``, ``png``, ``gif``,
``tiff``, ``bmp``) fills a :class:`Facts` and stops early, with a 413, as
soon as a count passes its limit, so a flood of a million markers costs the
walker a few thousand steps, not a million.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smartthumb.errors import SourceTooLarge

#: JPEG: APPn and COM segments before the first scan. Pillow keeps one Python
#: object per segment (``applist``): 13 M empty APP markers peaked at 1.78 GB.
#: Cameras write a handful; a 4 MB ICC profile is 64 APP2 chunks.
MAX_JPEG_METADATA_SEGMENTS = 512
#: JPEG: every marker before the first scan (DQT, DHT, RSTn, ...): Pillow walks
#: each in Python.
MAX_JPEG_HEADER_MARKERS = 1024
#: JPEG: bytes that are not part of a segment (junk, FF fill) before the first
#: scan; Pillow skips them one byte per Python step.
MAX_JPEG_JUNK_BYTES = 64 * 1024
#: PNG: chunks other than the image data (IDAT, fdAT) and frame controls
#: (fcTL). Pillow keeps every private chunk (+513 MB measured for a flood).
MAX_PNG_METADATA_CHUNKS = 1024
#: PNG: all chunks. Pillow reads each in Python; libpng-style encoders write
#: 8-64 kB IDATs, so a 50 MB file has a few thousand.
MAX_PNG_CHUNKS = 65_536
#: GIF: sub-blocks of extensions (comments, application data, plain text).
#: Pillow keeps comments block by block: 26 M one-byte comment sub-blocks
#: peaked at 2.29 GB. An XMP packet with its magic trailer is a few hundred.
MAX_GIF_EXTENSION_SUBBLOCKS = 16_384
#: GIF: all sub-blocks; image data comes in up-to-255-byte sub-blocks, so a
#: file of ``n`` bytes honestly holds about ``n / 256``.
MAX_GIF_SUBBLOCKS_FLOOR = 65_536
#: TIFF: directory entries summed over the IFDs walked. Pillow loads every
#: IFD's tags while counting frames (a 1.3 MB chain of 32 k IFDs took 9-12 s).
MAX_TIFF_ENTRIES = 65_536
#: BMP: Pillow's RLE4/RLE8 decoder is pure Python (a 100 Mpx RLE8 file took
#: 14-15 s here); above this many pixels an RLE bitmap is refused.
MAX_RLE_PIXELS = 4_000_000


@dataclass(frozen=True)
class JpegComponent:
    """One SOF component: horizontal and vertical sampling factors."""

    h: int
    v: int


@dataclass
class Facts:
    """One source's container facts. ``format`` is "" for a container this
    scanner does not know (it is passed through to the decoder's own checks)."""

    format: str = ""
    width: int = 0
    height: int = 0
    #: Frames, pages or images counted (stops one past the frame limit).
    frames: int = 1
    #: Bits per sample (PNG bit depth, JPEG precision, BMP bits per pixel).
    bits: int = 8
    #: Samples per pixel as stored (JPEG components, PNG channels, ...).
    channels: int = 3
    #: JPEG: progressive (SOF2/6/10/14) or more than one scan: libjpeg then
    #: keeps the whole image's DCT coefficients.
    buffered: bool = False
    components: tuple[JpegComponent, ...] = ()
    #: PNG: palette (colour type 3) or interlaced (Adam7): never the libspng path.
    palette: bool = False
    interlaced: bool = False
    #: PNG: a tRNS chunk (colour-key transparency): never the libspng path.
    transparency: bool = False
    #: BMP: RLE4/RLE8, decoded by Pillow in Python.
    rle: bool = False
    #: WebP: a lossless (VP8L) image, which decodes at a different cost from a lossy one.
    lossless: bool = False
    #: Pixels the decoder works through where the container's size understates them: a
    #: TIFF's tiles (a tile may reach far past the page, and libtiff inflates it whole) and
    #: the largest frame an AVIF's AV1 sequence headers declare (libavif decodes that one).
    coded_pixels: int = 0
    #: Counts the limits apply to (kept for HARDENING's tables and the tests).
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_pixels(self) -> int:
        """The pixels the decoder works through: :attr:`pixels`, or more (:attr:`coded_pixels`)."""
        return max(self.pixels, self.coded_pixels)


def too_many(what: str, limit: int) -> SourceTooLarge:
    """The 413 for a count over its limit (the message names the limit, not the file)."""
    return SourceTooLarge(f"the source has more than {limit} {what}")


__all__ = ["Facts", "JpegComponent", "too_many"]

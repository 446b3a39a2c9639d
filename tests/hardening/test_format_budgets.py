"""Memory and CPU budgets for WebP, HEIC, AVIF, GIF and TIFF (structure/webp.py, structure/budget.py).

Before these, a WebP, HEIC or AVIF had no facts (``Facts.format == ""``), so
neither budget applied: a 38-byte, 100 Mpx lossless WebP peaked at 1.5 GB in
Pillow and the ThumbnailFunction answered 500 (``MemoryError``) under its
1,024 MB; a 100 Mpx AVIF passed at a 990 MB peak; GIF and TIFF decodes of
1-2.5 s were not estimated. The capped run of every door is
test_capped_memory.py's (the WebP is one of its findings now).
"""

from __future__ import annotations

import dataclasses
import io
import random
import struct

import pytest
from PIL import Image, WebPImagePlugin

from smartthumb import av1_header, heif_header, render, structure
from smartthumb.config import Settings
from smartthumb.errors import SourceTooLarge
from smartthumb.structure import budget, webp
from tests.conftest import image_bytes
from tests.formats.sources import avif_bytes, heic_bytes
from tests.hardening.floods import flat_lossless_webp, tiff_huge_tile


def _webp(im: Image.Image, **params: object) -> bytes:
    return image_bytes(im, "WEBP", **params)


def _frames(mode: str) -> list[Image.Image]:
    return [Image.new(mode, (301, 203), (40 * k, 90, 200, 128)[: len(mode)]) for k in range(3)]


WEBPS = {
    "lossy": lambda: _webp(Image.new("RGB", (641, 479), (9, 99, 199)), quality=80),
    "lossless": lambda: _webp(Image.new("RGB", (641, 479), (9, 99, 199)), lossless=True),
    "lossy alpha": lambda: _webp(Image.new("RGBA", (641, 479), (9, 99, 199, 100)), quality=80),
    "lossless alpha": lambda: _webp(Image.new("RGBA", (641, 479), (9, 99, 199, 100)), lossless=True),
    "lossy with ICC (VP8X)": lambda: _webp(Image.new("RGB", (641, 479)), quality=80, icc_profile=b"p" * 99),
    "animated lossy": lambda: _webp(_frames("RGB")[0], save_all=True, append_images=_frames("RGB")[1:]),
    "animated lossless alpha": lambda: _webp(
        _frames("RGBA")[0], save_all=True, append_images=_frames("RGBA")[1:], lossless=True
    ),
}


@pytest.mark.parametrize("name", list(WEBPS))
def test_the_webp_walk_reads_what_pillow_reads(name: str) -> None:
    data = WEBPS[name]()
    facts = structure.scan(data, 100)
    im = Image.open(io.BytesIO(data))
    assert (facts.format, facts.width, facts.height) == ("WEBP", *im.size)
    assert facts.channels == (4 if im.mode == "RGBA" else 3)
    assert facts.lossless == ("lossless" in name)
    assert budget.decode_bytes(facts) == int(facts.pixels * budget.BYTES_PER_PIXEL["WEBP"])


def test_a_truncated_or_forged_webp_never_breaks_the_walk() -> None:
    """Every prefix of a file, and chunk sizes that point anywhere, leave what the header said (or
    nothing) and raise nothing: libwebp judges the file later (415)."""
    data = WEBPS["animated lossless alpha"]()
    for cut in range(len(data)):
        facts = webp.scan(data[:cut])
        assert facts.format == "WEBP"
        assert facts.pixels == (0 if cut < 30 else 301 * 203)
    forged = bytearray(data)
    forged[16:20] = (0xFFFFFFF0).to_bytes(4, "little")  # VP8X's size: past the end
    assert webp.scan(bytes(forged)).width == 301
    assert structure.scan(b"RIFF\0\0\0\0WAVEfmt ", 100).format == ""
    # Frames inside frames, 100 000 deep: one level is looked into, the walk stays bounded.
    vp8x = b"VP8X" + (10).to_bytes(4, "little") + b"\0" * 4 + (99).to_bytes(3, "little") * 2
    nested = b"".join(b"ANMF" + (2**31).to_bytes(4, "little") + b"\0" * 16 for _ in range(100_000))
    body = b"WEBP" + vp8x + nested
    facts = webp.scan(b"RIFF" + len(body).to_bytes(4, "little") + body)
    assert (facts.width, facts.height, facts.lossless) == (100, 100, False)


def test_webp_costs_by_kind() -> None:
    """Per Mpx, an alpha frame costs more than a lossy one; per MiB, lossy data more than lossless."""
    mpx = structure.Facts(format="WEBP", width=4000, height=4000)
    cost = {
        name: budget.decode_cpu_ms(dataclasses.replace(mpx, **kind), 7 * 2**20)
        for name, kind in {
            "lossy": {},
            "lossless": {"lossless": True},
            "lossy alpha": {"channels": 4},
            "lossless alpha": {"channels": 4, "lossless": True},
        }.items()
    }
    assert cost["lossy alpha"] > cost["lossy"] > cost["lossless"] > 0
    assert cost["lossless alpha"] > cost["lossless"]


def test_a_100_mpx_webp_is_refused_before_pillow_opens_it(monkeypatch) -> None:
    """The finding: 38 bytes, 100 Mpx. Refused from the RIFF walk by memory under both functions' sizes,
    and by the CPU budget where the memory would allow it, before Pillow's opener, which allocates
    libwebp's canvases (under a capped address space that failed: a 415 instead of the 413)."""
    data = flat_lossless_webp()

    def no_open(self: object) -> None:
        raise AssertionError("Pillow opened a WebP over the budget")

    monkeypatch.setattr(WebPImagePlugin.WebPImageFile, "_open", no_open)
    for memory_mb in (1024, 2048):
        with pytest.raises(SourceTooLarge, match="MB"):
            render.open_image(data, Settings(function_memory_mb=memory_mb))
    with pytest.raises(SourceTooLarge, match="MAX_DECODE_CPU_MS"):
        render.open_image(data, Settings(function_memory_mb=4096))
    monkeypatch.undo()
    # A 2 Mpx one is opened.
    small = render.open_image(flat_lossless_webp(1600, 1200), Settings(function_memory_mb=1024))
    assert small.size.width == 1600 and small.facts is not None and small.facts.lossless


@pytest.mark.parametrize("kind", ["heic", "avif"])
def test_heic_and_avif_take_their_size_from_the_box_walk(kind: str) -> None:
    im = Image.new("RGB", (640, 360), (120, 60, 30))
    data = (heic_bytes if kind == "heic" else avif_bytes)(im)
    facts = structure.scan(data, 100)
    assert (facts.format, facts.width, facts.height) == (kind.upper().replace("HEIC", "HEIF"), 640, 360)
    need_ms = budget.decode_cpu_ms(facts, len(data))
    assert need_ms > 0
    render.open_image(data, Settings(max_decode_cpu_ms=need_ms))
    with pytest.raises(SourceTooLarge, match="MAX_DECODE_CPU_MS"):
        render.open_image(data, Settings(max_decode_cpu_ms=max(need_ms - 1, 1)))
    # The memory budget too: 1 MB of room is less than the frame's 1.8-2.2 MB.
    with pytest.raises(SourceTooLarge, match="MB"):
        render.open_image(data, Settings(function_memory_mb=450, memory_reserve_mb=449, max_decode_cpu_ms=0))


@pytest.mark.parametrize(
    ("fmt", "params"), [("GIF", {}), ("TIFF", {"compression": "tiff_adobe_deflate"}), ("TIFF", {})]
)
def test_gif_and_tiff_are_estimated(fmt: str, params: dict) -> None:
    data = image_bytes(Image.new("RGB", (3000, 2000), (1, 2, 3)), fmt, **params)
    need_ms = budget.decode_cpu_ms(structure.scan(data, 100), len(data))
    assert need_ms >= 6 * budget.OTHER_MS[fmt][0]  # 6 Mpx at the format's rate, plus its bytes
    with pytest.raises(SourceTooLarge, match="MAX_DECODE_CPU_MS"):
        render.open_image(data, Settings(max_decode_cpu_ms=need_ms - 1))


def test_a_tiff_tile_past_the_page_is_budgeted_by_the_tile() -> None:
    """A 64x64 page with one 4096x4096 tile: libtiff decodes the tile whole (16.8 Mpx), so the
    budgets count 16.8 Mpx, not the page's 4,096 pixels (the hostile-input finding had 16384)."""
    data = tiff_huge_tile(4096, 64)
    facts = structure.scan(data, 100)
    assert (facts.pixels, facts.decoded_pixels) == (64 * 64, 4096 * 4096)
    assert budget.decode_cpu_ms(facts, len(data)) >= 16 * budget.OTHER_MS["TIFF"][0]
    assert budget.decode_bytes(facts) == int(4096 * 4096 * budget.BYTES_PER_PIXEL["TIFF"])
    with pytest.raises(SourceTooLarge, match="MAX_DECODE_CPU_MS"):
        render.open_image(data, Settings(max_decode_cpu_ms=100))
    with pytest.raises(SourceTooLarge, match="MB"):  # 134 MB of tile against 100 MB of room
        render.open_image(data, Settings(function_memory_mb=548, memory_reserve_mb=448, max_decode_cpu_ms=0))
    # A tile the size of the page is the page.
    tight = tiff_huge_tile(64, 64)
    assert structure.scan(tight, 100).decoded_pixels == 64 * 64
    assert render.open_image(tight, Settings()).size.width == 64


def _avif_with_ispe(size: tuple[int, int], claimed: tuple[int, int]) -> bytes:
    """An AVIF coded at ``size`` whose ``ispe`` box is patched to say ``claimed``."""
    data = bytearray(avif_bytes(Image.new("RGB", size, (10, 120, 200))))
    at = data.find(b"ispe")
    struct.pack_into(">II", data, at + 8, *claimed)
    return bytes(data)


def test_an_avif_whose_ispe_understates_its_frame_is_budgeted_by_the_av1_header() -> None:
    """The finding: coded at 12000x12000 (144 Mpx), ``ispe`` patched to 64x64, 2 KB. libavif decodes
    the coded frame (a 923 MB peak for c=7), so the sequence header's size counts, here at 3000x2000."""
    data = _avif_with_ispe((3000, 2000), (64, 64))
    facts = structure.scan(data, 100)
    assert (facts.width, facts.height, facts.decoded_pixels) == (64, 64, 3000 * 2000)
    with pytest.raises(SourceTooLarge, match="pixels"):
        render.open_image(data, Settings(max_source_pixels=5_000_000))
    with pytest.raises(SourceTooLarge, match="MB"):  # 60 MB of frame against 40 MB of room
        render.open_image(data, Settings(function_memory_mb=488, memory_reserve_mb=448, max_decode_cpu_ms=0))
    honest = avif_bytes(Image.new("RGB", (3000, 2000), (10, 120, 200)))
    assert structure.scan(honest, 100).decoded_pixels == 3000 * 2000


@pytest.mark.parametrize("size", [(1, 1), (640, 360), (333, 517), (4097, 33)])
def test_the_av1_sequence_header_gives_the_coded_size(size: tuple[int, int]) -> None:
    data = avif_bytes(Image.new("RGB", size, (200, 30, 90)))
    header = heif_header.scan(data, 10**12)
    assert header.coded_pixels == size[0] * size[1] == header.width * header.height


def test_bytes_that_are_not_av1_give_no_size() -> None:
    rng = random.Random(7)
    assert av1_header.obus_size(b"\x00\x00\x00\x06Exif\x00\x00MM") is None  # an Exif item
    assert av1_header.obus_size(b"<x:xmpmeta/>") is None
    for _ in range(2000):  # never raises, whatever the bytes
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
        av1_header.obus_size(blob)
        av1_header.sequence_header_size(blob)

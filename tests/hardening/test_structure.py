"""The container scan (``smartthumb.structure``): each issue-11 class is refused
with a 413 *before any decoder runs* (``Image.open`` is made to fail), honest
files pass, and the memory budget follows the function's memory.

No timing here: "in milliseconds" is shown by the decoder never being called
(the CPU times are measured by the capped runs and listed in HARDENING.md).
"""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageFile, JpegImagePlugin

from smartthumb import render, structure
from smartthumb.config import ConfigError, Settings
from smartthumb.errors import SourceTooLarge, UnsupportedImage
from smartthumb.geometry import CropMode
from smartthumb.request import ThumbRequest
from smartthumb.structure import budget
from smartthumb.structure.facts import (
    MAX_JPEG_HEADER_MARKERS,
    MAX_JPEG_JUNK_BYTES,
    MAX_JPEG_METADATA_SEGMENTS,
    MAX_PNG_CHUNKS,
    MAX_PNG_METADATA_CHUNKS,
    MAX_RLE_PIXELS,
)
from tests.conftest import SAMPLES, image_bytes
from tests.hardening import floods
from tests.hardening.corpus import _animated_gif, corpus

SETTINGS = Settings()


def _no_decoder(*args: object, **kwargs: object) -> None:
    raise AssertionError("a decoder was reached")


@pytest.fixture
def no_decoder(monkeypatch):
    """``Image.open`` fails the test: a refusal must come from the bytes alone."""
    monkeypatch.setattr(Image, "open", _no_decoder)


# Small members of each class: over their limit, cheap to build.
REFUSED = {
    "ifd-chain.tiff": lambda: floods.tiff_ifd_chain(SETTINGS.max_animation_frames + 1),
    "app-flood.jpg": lambda: floods.jpeg_marker_flood(MAX_JPEG_METADATA_SEGMENTS),
    "com-flood.jpg": lambda: floods.jpeg_marker_flood(MAX_JPEG_METADATA_SEGMENTS, marker=0xFE),
    "rst-flood.jpg": lambda: floods.jpeg_marker_flood(MAX_JPEG_HEADER_MARKERS, marker=0xD0),
    "junk.jpg": lambda: floods.jpeg_junk(MAX_JPEG_JUNK_BYTES + 1),
    "private-chunks.png": lambda: floods.png_private_chunk_flood(MAX_PNG_METADATA_CHUNKS + 1),
    "idat-flood.png": lambda: floods.png_idat_flood(MAX_PNG_CHUNKS),
    "comment-flood.gif": lambda: floods.gif_comment_flood(200_000),
    "rle8.bmp": lambda: floods.rle8_bmp(2001, 2000),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_each_class_is_refused_from_the_bytes(no_decoder, name: str) -> None:
    data = REFUSED[name]()
    with pytest.raises(SourceTooLarge) as caught:
        render.open_image(data, SETTINGS)
    assert caught.value.status == 413
    assert caught.value.message  # names the limit, not the file


#: Classes over the memory budget: the header is read (Image.open), nothing decoded.
OVER_BUDGET = {
    "progressive-cmyk.jpg": lambda: floods.progressive_jpeg("CMYK"),
    "rgba16-100mpx.png": lambda: floods.png16_at_limit(10_000),
}


@pytest.mark.parametrize("name", list(OVER_BUDGET))
def test_over_budget_decodes_are_refused_before_loading(monkeypatch, name: str) -> None:
    monkeypatch.setattr(ImageFile.ImageFile, "load", _no_decoder)
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", _no_decoder, raising=False)
    with pytest.raises(SourceTooLarge) as caught:
        render.open_image(OVER_BUDGET[name](), Settings(function_memory_mb=1024))
    assert "MB" in caught.value.message
    # Fits the AnalyzeFunction's memory (its decode CPU is test_decode_cpu.py's; off here).
    render.open_image(OVER_BUDGET[name](), Settings(function_memory_mb=2048, max_decode_cpu_ms=0))


def test_a_junk_header_is_unsupported_not_a_memory_estimate() -> None:
    with pytest.raises(UnsupportedImage):
        render.open_image(b"GIF89a but not really", SETTINGS)


def test_counts_just_under_each_limit_pass_the_scan() -> None:
    # The 16x16 seeds carry one APP0 (JFIF), so the floods stop one short.
    for data in (
        floods.jpeg_marker_flood(MAX_JPEG_METADATA_SEGMENTS - 1),
        floods.jpeg_junk(MAX_JPEG_JUNK_BYTES),
        floods.png_private_chunk_flood(MAX_PNG_METADATA_CHUNKS),
        floods.tiff_ifd_chain(SETTINGS.max_animation_frames),
        floods.rle8_bmp(2000, 2000),
    ):
        facts = structure.check(data, SETTINGS)
        assert facts.format


def test_under_the_limits_the_floods_still_render() -> None:
    """The scan only counts: what it lets through decodes as before."""
    request = ThumbRequest(id="x", width=16, height=16, crop=CropMode.NONE)
    for data in (
        floods.jpeg_marker_flood(100),
        floods.png_private_chunk_flood(100),
        floods.gif_comment_flood(1000),
        floods.tiff_ifd_chain(20),
        floods.rle8_bmp(64, 48),
    ):
        body, _ = render.render_bytes(data, request, SETTINGS)
        assert Image.open(io.BytesIO(body)).size[0] == 16


def test_the_hostile_corpus_passes_the_scan_where_it_rendered() -> None:
    for c in corpus():
        if c.status == 200:
            structure.check(c.data, Settings(max_source_pixels=16_000_000, max_animation_frames=100))


def test_the_samples_and_honest_heavy_files_pass() -> None:
    for path in sorted(SAMPLES.glob("*.jpg")):
        facts = structure.check(path.read_bytes(), SETTINGS)
        assert facts.format == "JPEG" and facts.width > 0 and facts.components
    # A 1 MB ICC profile is 16 APP2 segments; a progressive file about ten scans.
    noise = Image.effect_noise((600, 400), 40).convert("RGB")
    icc = b"\0" * (1024 * 1024)
    facts = structure.check(image_bytes(noise, "JPEG", progressive=True, icc_profile=icc), SETTINGS)
    assert facts.buffered and facts.counts["metadata"] >= 16
    # A large PNG comes in many IDAT chunks.
    big = image_bytes(Image.effect_noise((2000, 1500), 60).convert("RGB"), "PNG", compress_level=1)
    assert structure.check(big, SETTINGS).counts["chunks"] > 10


def test_unknown_containers_pass_through_to_the_decoder() -> None:
    webp = image_bytes(Image.new("RGB", (8, 8)), "WEBP")
    assert structure.scan(webp, 10).format == "WEBP"  # walked since the budgets know it (test_format_budgets.py)
    assert structure.scan(b"", 10).format == ""
    assert structure.scan(b"RIFF\0\0\0\0WAVEfmt ", 10).format == ""
    # An AVIF brand with no boxes after it: left to the HEIF opener, which refuses it (415).
    assert structure.scan(b"\0\0\0\x1cftypavif", 10).format == ""


def test_a_tiff_ifd_loop_ends_the_walk() -> None:
    chain = bytearray(floods.tiff_ifd_chain(3))
    last_next = 8 + 3 * 66 - 4
    chain[last_next : last_next + 4] = struct.pack("<I", 8)  # the last IFD points back at the first
    assert structure.scan(bytes(chain), 1000).frames == 3


def test_gif_frames_stop_one_past_the_limit(no_decoder) -> None:
    gif = _animated_gif(12)
    assert structure.scan(gif, 12).frames == 12
    # Over the limit the walk stops at limit + 1 (not refused: the first frame is served).
    assert structure.scan(gif, 11).frames == 12
    assert structure.scan(gif, 3).frames == 4


# ------------------------------------------------------------------ memory budget


def test_coefficient_buffer_follows_components_and_sampling() -> None:
    cmyk = structure.scan(floods.progressive_jpeg("CMYK", 10_000), 1)
    rgb444 = structure.scan(floods.progressive_jpeg("RGB", 10_000, subsampling=0), 1)
    rgb420 = structure.scan(floods.progressive_jpeg("RGB", 10_000, subsampling=2), 1)
    baseline = structure.scan(image_bytes(Image.new("RGB", (64, 64)), "JPEG"), 1)
    mb = 2**20
    assert round(budget.jpeg_coefficient_bytes(cmyk) / mb) == 763  # 4 x 2 bytes x 100 Mpx
    assert round(budget.jpeg_coefficient_bytes(rgb444) / mb) == 572
    assert round(budget.jpeg_coefficient_bytes(rgb420) / mb) == 286
    assert budget.jpeg_coefficient_bytes(baseline) == 0


def test_the_budget_is_the_function_memory_less_the_reserve(no_decoder) -> None:
    cmyk = structure.check(floods.progressive_jpeg("CMYK"), SETTINGS)
    with pytest.raises(SourceTooLarge):
        structure.check_memory(cmyk, Settings(function_memory_mb=1024))
    structure.check_memory(cmyk, Settings(function_memory_mb=2048))
    assert structure.decode_budget(Settings(function_memory_mb=2048, memory_reserve_mb=48)) == 2000 * 2**20


def test_the_draft_scale_is_budgeted_before_the_decode(monkeypatch) -> None:
    """Open passes at the smallest draft; a request needing a full-size decode is refused before libjpeg runs."""
    data = floods.progressive_jpeg("RGB", 6000)  # 206 MB of coefficients
    settings = Settings(function_memory_mb=748, memory_reserve_mb=448)  # 300 MB for the decode
    small = ThumbRequest(id="x", width=100, height=100, crop=CropMode.NONE)
    body, _ = render.render_bytes(data, small, settings)  # within budget at 1/8: decoded (grey, truncated)
    assert Image.open(io.BytesIO(body)).size == (100, 100)
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", _no_decoder)
    large = ThumbRequest(id="x", width=4000, height=4000, crop=CropMode.NONE)
    with pytest.raises(SourceTooLarge):
        render.render_bytes(data, large, settings)


def test_memory_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048", "MEMORY_RESERVE_MB": "500"})
    assert (settings.function_memory_mb, settings.memory_reserve_mb) == (2048, 500)
    assert Settings.from_env({}).function_memory_mb == 1024
    with pytest.raises(ConfigError):
        Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"})  # below the reserve


def test_rle_limit_is_a_pixel_count() -> None:
    assert MAX_RLE_PIXELS == 4_000_000  # HARDENING.md's table says this figure
    assert structure.scan(floods.rle8_bmp(64, 48), 1).rle

"""The HEIF/AVIF box walk: sizes and kinds from real files; forged boxes refused before any decoder runs."""

from __future__ import annotations

import struct

import pytest
from PIL import Image

from smartthumb import heif_header
from smartthumb.errors import SourceTooLarge, UnsupportedImage
from smartthumb.heif_header import AVIF, HEIF, scan, sniff
from tests.formats.sources import avif_bytes, heic_bytes

RED = Image.new("RGB", (96, 64), (200, 30, 30))


def test_real_files() -> None:
    heic, avif = heic_bytes(RED), avif_bytes(RED)
    assert sniff(heic) == HEIF and sniff(avif) == AVIF
    h = scan(heic, 10**8)
    assert (h.kind, h.width, h.height) == (HEIF, 96, 64)
    a = scan(avif, 10**8)
    assert (a.kind, a.width, a.height) == (AVIF, 96, 64)
    assert a.largest_pixels == 96 * 64


def test_heic_rotation_swaps_the_size() -> None:
    h = scan(heic_bytes(RED, orientation=6), 10**8)
    assert (h.width, h.height) == (64, 96)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff\xe0" + bytes(40), b"\x00\x00\x00\x18ftypisom" + bytes(12)])
def test_other_files_are_not_heif(data: bytes) -> None:
    assert sniff(data) is None
    with pytest.raises(UnsupportedImage):
        scan(data, 10**8)


def _find(data: bytes, kind: bytes) -> int:
    pos = data.find(kind)
    assert pos >= 4, kind
    return pos - 4  # the box starts at its size field


def test_truncated_file() -> None:
    heic = heic_bytes(RED)
    with pytest.raises(UnsupportedImage, match=r"past its container|truncated"):
        scan(heic[: len(heic) // 2], 10**8)


def test_forged_box_size() -> None:
    data = bytearray(heic_bytes(RED))
    meta = _find(data, b"meta")
    struct.pack_into(">I", data, meta, 0xFFFFFF00)
    with pytest.raises(UnsupportedImage, match="past its container"):
        scan(bytes(data), 10**8)


def test_too_many_items() -> None:
    data = bytearray(heic_bytes(RED))
    iinf = _find(data, b"iinf")
    version = data[iinf + 8]
    if version == 0:
        struct.pack_into(">H", data, iinf + 12, 60000)
    else:
        struct.pack_into(">I", data, iinf + 12, 10**6)
    with pytest.raises(UnsupportedImage, match="items"):
        scan(bytes(data), 10**8)


def test_forged_extent_is_over_the_pixel_limit() -> None:
    data = bytearray(avif_bytes(RED))
    ispe = _find(data, b"ispe")
    struct.pack_into(">II", data, ispe + 12, 60000, 60000)
    with pytest.raises(SourceTooLarge):
        scan(bytes(data), 100_000_000)
    assert scan(avif_bytes(RED), 96 * 64).width == 96  # exactly at the limit passes


def test_box_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # An ftyp then thousands of empty "free" boxes: a linear walk, cut off at MAX_BOXES.
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"heic", 0, b"mif1")
    data = ftyp + struct.pack(">I4s", 8, b"free") * 5000
    with pytest.raises(UnsupportedImage, match="boxes"):
        scan(data, 10**8)
    monkeypatch.setattr(heif_header, "MAX_BOXES", 10**6)
    with pytest.raises(UnsupportedImage, match="no image extent"):
        scan(data, 10**8)


def test_nesting_is_bounded() -> None:
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"heic", 0, b"mif1")
    inner = b""
    for _ in range(20):
        inner = struct.pack(">I4s", 8 + len(inner), b"iprp") + inner
    with pytest.raises(UnsupportedImage, match="nest"):
        scan(ftyp + inner, 10**8)


def test_pi_heif_decodes_what_pillow_heif_wrote() -> None:
    """The runtime's decoder (pi-heif) reads the dev encoder's files: the test sources are honest."""
    import io

    import pi_heif

    pi_heif.register_heif_opener()
    im = Image.open(io.BytesIO(heic_bytes(RED)))
    assert im.format == "HEIF" and im.size == (96, 64)
    r, g, b = im.convert("RGB").getpixel((40, 30))
    assert abs(r - 200) < 12 and abs(g - 30) < 12 and abs(b - 30) < 12

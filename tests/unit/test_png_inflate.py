"""The PNG stream re-encoded as stored deflate (render/png_inflate.py) under libspng."""

from __future__ import annotations

import ctypes
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from smartthumb.config import Settings
from smartthumb.render import open_image, png_inflate, png_spng
from tests.unit.test_render import png_chunks

pytestmark = pytest.mark.skipif(png_inflate._inflater() is None, reason="isal is not installed")


def png_bytes(mode: str = "RGB", size: tuple[int, int] = (700, 500)) -> bytes:
    """Noisy content (every filter type), several 64 KiB IDATs as Pillow writes them."""
    rng = np.random.default_rng(3)
    bands = len(mode)
    pixels = rng.integers(0, 256, (size[1], size[0], bands), dtype=np.uint8)
    pixels[:, : size[0] // 2] //= 8  # some compressible area too
    im = Image.fromarray(pixels[:, :, 0] if bands == 1 else pixels, mode)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def first_idat(data: bytes) -> int:
    return next(pos for kind, pos, _ in png_chunks(data) if kind == b"IDAT")


def rewritten(data: bytes) -> bytes:
    stored = png_inflate.stored_png(data, first_idat(data))
    assert stored is not None
    parts = []
    buf = ctypes.create_string_buffer(5000)
    while True:
        want = 1 if len(parts) % 7 == 3 else 5000  # reads across the ends of the pieces too
        got = stored.read_into(ctypes.addressof(buf), want)
        parts.append(buf.raw[:got])
        if got < want:
            break
    return b"".join(parts)


def with_crc_fixed(data: bytearray, pos: int, length: int) -> bytes:
    data[pos + 8 + length : pos + 12 + length] = struct.pack(">I", zlib.crc32(bytes(data[pos + 4 : pos + 8 + length])))
    return bytes(data)


def test_the_rewritten_stream_is_the_same_png_in_stored_blocks() -> None:
    data = png_bytes()
    assert sum(1 for c in png_chunks(data) if c[0] == b"IDAT") > 1
    whole = rewritten(data)
    idats = [(pos, length) for kind, pos, length in png_chunks(whole) if kind == b"IDAT"]
    stream = b"".join(whole[pos + 8 : pos + 8 + length] for pos, length in idats)
    original = b"".join(data[pos + 8 : pos + 8 + length] for kind, pos, length in png_chunks(data) if kind == b"IDAT")
    assert zlib.decompress(stream) == zlib.decompress(original)  # the Adler-32 is right too
    assert len(stream) > len(zlib.decompress(original))  # stored, not compressed
    for pos, length in idats:
        assert struct.unpack_from(">I", whole, pos + 8 + length)[0] == zlib.crc32(whole[pos + 4 : pos + 8 + length])
    assert whole[: first_idat(data)] == data[: first_idat(data)]
    assert whole.endswith(data[-12:])  # IEND, as it was
    with Image.open(io.BytesIO(whole)) as a, Image.open(io.BytesIO(data)) as b:
        assert a.tobytes() == b.tobytes()


# LA: libspng fails its size check on either stream (Pillow decodes it).
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_libspng_decodes_the_stored_stream_to_pillows_pixels(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    data = png_bytes(mode, (300, 200))
    reads = []
    real = png_inflate.StoredPng.read_into

    def counting(self: png_inflate.StoredPng, dest: int, length: int) -> int:
        reads.append(length)
        return real(self, dest, length)

    monkeypatch.setattr(png_inflate.StoredPng, "read_into", counting)
    src = png_spng._spng_source(open_image(data, Settings()))
    assert src is not None
    rows: list[bytes] = []
    png_spng._spng_decode(src, 0, src.height, 16, lambda y, strip: rows.append(strip.tobytes()))
    assert reads  # libspng read the rewritten stream
    with Image.open(io.BytesIO(data)) as plain:
        assert b"".join(rows) == plain.tobytes()


def damaged(data: bytes, how: str) -> bytes:
    out = bytearray(data)
    idats = [(pos, length) for kind, pos, length in png_chunks(data) if kind == b"IDAT"]
    pos, length = idats[0]
    if how == "crc":
        out[pos + 8 + length] ^= 0x55
        return bytes(out)
    if how == "payload":
        out[pos + 8 + length // 2] ^= 0x55
        return with_crc_fixed(out, pos, length)
    if how == "adler":
        pos, length = idats[-1]
        out[pos + 8 + length - 1] ^= 0x55
        return with_crc_fixed(out, pos, length)
    if how == "extra-after-stream":
        pos, length = idats[-1]
        payload = data[pos + 8 : pos + 8 + length] + b"junk"
        chunk = struct.pack(">I", len(payload)) + b"IDAT" + payload + struct.pack(">I", zlib.crc32(b"IDAT" + payload))
        return data[:pos] + chunk + data[pos + 12 + length :]
    if how == "truncated":
        pos, length = idats[len(idats) // 2]
        return data[:pos] + data[-12:]  # the later IDATs are gone, IEND follows
    if how == "header-crc":
        out[29] ^= 1  # IHDR's CRC
        return bytes(out)
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["crc", "payload", "adler", "extra-after-stream", "truncated", "header-crc"])
def test_a_broken_source_fails_the_read(how: str) -> None:
    with pytest.raises(png_inflate.CorruptPng):
        rewritten(damaged(png_bytes(), how))


def test_a_broken_source_fails_libspngs_decode() -> None:
    data = damaged(png_bytes(), "payload")
    src = png_spng._spng_source(open_image(data, Settings()))
    assert src is not None
    with pytest.raises(png_spng._SpngError):
        png_spng._spng_decode(src, 0, src.height, 16, lambda y, strip: None)


def test_without_isal_libspng_reads_the_png_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(png_inflate, "_isal", False)
    data = png_bytes("RGB", (300, 200))
    assert png_inflate.stored_png(data, first_idat(data)) is None
    src = png_spng._spng_source(open_image(data, Settings()))
    assert src is not None
    rows: list[bytes] = []
    png_spng._spng_decode(src, 0, src.height, 16, lambda y, strip: rows.append(strip.tobytes()))
    with Image.open(io.BytesIO(data)) as plain:
        assert b"".join(rows) == plain.tobytes()

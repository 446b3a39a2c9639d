"""Placeholders for lazy loading: a BlurHash and the dominant colour. Pure: no Pillow, no numpy.

Both are computed at analysis time from the small analysis image (a few
thousand RGB pixels; the caller shrinks first), stored in the sidecar and
returned by ``GET /analysis`` as ``"placeholder": {"blurhash", "color"}``.

BlurHash (https://blurha.sh, the algorithm of woltapp/blurhash, written here
from its specification): the image's low-frequency DCT components in linear
light, quantised into a short base-83 string that a page decodes into a
blurred preview. :func:`blurhash_decode` is the reference decoder (the tests
and the preview page's server side use it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_BASE83_INDEX = {c: i for i, c in enumerate(_BASE83)}

#: Components along x and y. 4x3 suits the common landscape thumbnail; the
#: string is then 4 + 2 * 11 + 2 = 28 characters.
DEFAULT_COMPONENTS = (4, 3)


class BlurHashError(ValueError):
    """A BlurHash string that cannot be decoded."""


@dataclass(frozen=True, slots=True)
class Placeholder:
    blurhash: str
    color: str  # "#rrggbb"

    def to_json(self) -> dict[str, str]:
        return {"blurhash": self.blurhash, "color": self.color}


def _srgb_to_linear(value: int) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


_LINEAR = [_srgb_to_linear(i) for i in range(256)]


def _linear_to_srgb(value: float) -> int:
    v = min(1.0, max(0.0, value))
    s = v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
    return int(s * 255 + 0.5)


def _encode83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - 1 - i)) % 83] for i in range(length))


def _decode83(text: str) -> int:
    value = 0
    for c in text:
        if c not in _BASE83_INDEX:
            raise BlurHashError(f"not a base-83 character: {c!r}")
        value = value * 83 + _BASE83_INDEX[c]
    return value


def _sign_pow(value: float, exp: float) -> float:
    return math.copysign(abs(value) ** exp, value)


def _check_pixels(width: int, height: int, rgb: Sequence[int] | bytes) -> None:
    if width < 1 or height < 1 or len(rgb) != width * height * 3:
        raise ValueError(f"expected {width}x{height} RGB pixels ({width * height * 3} values), got {len(rgb)}")


def blurhash_encode(
    width: int, height: int, rgb: Sequence[int] | bytes, components: tuple[int, int] = DEFAULT_COMPONENTS
) -> str:
    """BlurHash of ``width`` x ``height`` packed 8-bit RGB pixels (row-major)."""
    _check_pixels(width, height, rgb)
    cx, cy = components
    if not (1 <= cx <= 9 and 1 <= cy <= 9):
        raise ValueError("BlurHash components must be 1..9")
    lin = [_LINEAR[v] for v in rgb]
    cos_x = [[math.cos(math.pi * i * x / width) for x in range(width)] for i in range(cx)]
    cos_y = [[math.cos(math.pi * j * y / height) for y in range(height)] for j in range(cy)]
    factors: list[tuple[float, float, float]] = []
    for j in range(cy):
        for i in range(cx):
            r = g = b = 0.0
            bx = cos_x[i]
            for y in range(height):
                by = cos_y[j][y]
                row = y * width * 3
                for x in range(width):
                    basis = bx[x] * by
                    p = row + 3 * x
                    r += basis * lin[p]
                    g += basis * lin[p + 1]
                    b += basis * lin[p + 2]
            scale = (1 if i == 0 and j == 0 else 2) / (width * height)
            factors.append((r * scale, g * scale, b * scale))

    dc, ac = factors[0], factors[1:]
    out = [_encode83((cx - 1) + (cy - 1) * 9, 1)]
    if ac:
        actual_max = max(abs(v) for f in ac for v in f)
        quantised_max = int(max(0, min(82, math.floor(actual_max * 166 - 0.5))))
        max_value = (quantised_max + 1) / 166
        out.append(_encode83(quantised_max, 1))
    else:
        max_value = 1.0
        out.append(_encode83(0, 1))
    out.append(_encode83((_linear_to_srgb(dc[0]) << 16) + (_linear_to_srgb(dc[1]) << 8) + _linear_to_srgb(dc[2]), 4))
    for f in ac:
        q = [int(max(0, min(18, math.floor(_sign_pow(v / max_value, 0.5) * 9 + 9.5)))) for v in f]
        out.append(_encode83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2))
    return "".join(out)


def blurhash_decode(blurhash: str, width: int, height: int, punch: float = 1.0) -> bytes:
    """Decode ``blurhash`` into ``width`` x ``height`` packed RGB bytes."""
    if len(blurhash) < 6:
        raise BlurHashError("a BlurHash has at least 6 characters")
    size_flag = _decode83(blurhash[0])
    cx, cy = size_flag % 9 + 1, size_flag // 9 + 1
    if len(blurhash) != 4 + 2 * cx * cy:
        raise BlurHashError(f"a {cx}x{cy} BlurHash has {4 + 2 * cx * cy} characters, not {len(blurhash)}")
    max_value = (_decode83(blurhash[1]) + 1) / 166 * punch
    dc = _decode83(blurhash[2:6])
    colors = [(_LINEAR[dc >> 16], _LINEAR[(dc >> 8) & 255], _LINEAR[dc & 255])]
    for k in range(1, cx * cy):
        v = _decode83(blurhash[4 + 2 * k : 6 + 2 * k])
        q = (v // 361, (v // 19) % 19, v % 19)
        colors.append(tuple(_sign_pow((c - 9) / 9, 2.0) * max_value for c in q))  # type: ignore[arg-type]
    out = bytearray(width * height * 3)
    cos_x = [[math.cos(math.pi * i * x / width) for i in range(cx)] for x in range(width)]
    cos_y = [[math.cos(math.pi * j * y / height) for j in range(cy)] for y in range(height)]
    for y in range(height):
        for x in range(width):
            r = g = b = 0.0
            for j in range(cy):
                for i in range(cx):
                    basis = cos_x[x][i] * cos_y[y][j]
                    c = colors[j * cx + i]
                    r += c[0] * basis
                    g += c[1] * basis
                    b += c[2] * basis
            p = 3 * (y * width + x)
            out[p], out[p + 1], out[p + 2] = _linear_to_srgb(r), _linear_to_srgb(g), _linear_to_srgb(b)
    return bytes(out)


def dominant_color(width: int, height: int, rgb: Sequence[int] | bytes) -> str:
    """The mean colour of the most populated cell of a coarse (8 levels a channel) colour grid, ``#rrggbb``.

    The mode of a coarse grid, not the mean of the image: a red ball on a
    large blue field gives the blue, not purple.
    """
    _check_pixels(width, height, rgb)
    cells: dict[int, list[int]] = {}
    for p in range(0, len(rgb), 3):
        r, g, b = rgb[p], rgb[p + 1], rgb[p + 2]
        acc = cells.setdefault((r >> 5) << 6 | (g >> 5) << 3 | (b >> 5), [0, 0, 0, 0])
        acc[0] += r
        acc[1] += g
        acc[2] += b
        acc[3] += 1
    r, g, b, n = max(cells.values(), key=lambda a: a[3])
    return f"#{round(r / n):02x}{round(g / n):02x}{round(b / n):02x}"


def placeholder(width: int, height: int, rgb: Sequence[int] | bytes) -> Placeholder:
    """Both placeholders of a small RGB image (components 4x3, or 3x4 for a portrait)."""
    components = DEFAULT_COMPONENTS if width >= height else DEFAULT_COMPONENTS[::-1]
    return Placeholder(blurhash_encode(width, height, rgb, components), dominant_color(width, height, rgb))

"""Parse a Bing-style ``/th`` query into one immutable :class:`ThumbRequest`.

Pure: no Pillow, no I/O. Every bad value raises :class:`InvalidParameter`
naming the parameter and the allowed range.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from smartthumb.config import Settings
from smartthumb.errors import InvalidParameter
from smartthumb.geometry import CropMode

#: Parameters that mean something here.
KNOWN = ("id", "w", "h", "c", "p", "qlt", "dpr", "pcl")
#: Sent by Bing clients; accepted and ignored (kept out of cache keys).
IGNORED = ("pid", "rs", "cdv", "o", "rm")
#: Signing parameters, checked by :mod:`smartthumb.signing` before parsing.
SIGNING = ("sig", "exp")

MAX_ID_LENGTH = 1024
_INT_RE = re.compile(r"[0-9]{1,9}")
_DPR_RE = re.compile(r"[0-9]{1,2}(\.[0-9]{1,3})?")
_HEX_RE = re.compile(r"[0-9a-fA-F]{6}([0-9a-fA-F]{2})?")


@dataclass(frozen=True, slots=True)
class ThumbRequest:
    """A validated ``/th`` request. ``width``/``height`` already include ``dpr``."""

    id: str
    width: int | None = None
    height: int | None = None
    crop: CropMode = CropMode.NONE
    pad: bool = True
    quality: int | None = None
    dpr: float = 1.0
    pad_color: tuple[int, int, int, int] = (255, 255, 255, 255)

    def cache_key(self) -> str:
        """A normalised form of the parameters that change the output."""
        parts = [
            f"w={self.width or ''}",
            f"h={self.height or ''}",
            f"c={int(self.crop)}",
            f"p={int(self.pad)}",
            f"q={self.quality or ''}",
        ]
        if self.pad:
            parts.append("pcl={:02x}{:02x}{:02x}{:02x}".format(*self.pad_color))
        return "&".join(parts)


def single_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Collapse query pairs to a dict, refusing repeated parameters.

    Names are matched case-sensitively as Bing does (``W`` is not ``w``).
    """
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidParameter(f"parameter '{key}' is given more than once", param=key)
        out[key] = value
    return out


def parse_query_string(query: str) -> dict[str, str]:
    return single_values(parse_qsl(query, keep_blank_values=True))


def _positive_int(params: Mapping[str, str], name: str, limit: int) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not _INT_RE.fullmatch(raw) or not 1 <= int(raw) <= limit:
        raise InvalidParameter(f"'{name}' must be an integer from 1 to {limit}", param=name)
    return int(raw)


def validate_id(raw: str | None) -> str:
    """Reject ids that could escape the source prefix or break a header."""
    if raw is None or raw == "":
        raise InvalidParameter("'id' is required", param="id")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_ID_LENGTH:
        raise InvalidParameter(f"'id' must be at most {MAX_ID_LENGTH} bytes", param="id")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise InvalidParameter("'id' must not contain control characters", param="id")
    if "\\" in raw:
        raise InvalidParameter("'id' must not contain backslashes", param="id")
    if raw.startswith("/"):
        raise InvalidParameter("'id' must not start with '/'", param="id")
    if any(seg in (".", "..") for seg in raw.split("/")) or "//" in raw or raw.endswith("/"):
        raise InvalidParameter("'id' must not contain '.', '..' or empty path segments", param="id")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidParameter("'id' must be valid UTF-8", param="id") from exc
    return raw


def parse_th(params: Mapping[str, str], settings: Settings, *, require_id: bool = True) -> ThumbRequest:
    """Validate ``/th`` parameters (single-valued) into a :class:`ThumbRequest`."""
    for name in params:
        if name not in KNOWN and name not in IGNORED and name not in SIGNING:
            raise InvalidParameter(f"unknown parameter '{name}'", param=name)

    image_id = validate_id(params.get("id")) if require_id else params.get("id") or ""
    width = _positive_int(params, "w", settings.max_dimension)
    height = _positive_int(params, "h", settings.max_dimension)

    crop = CropMode.NONE
    if "c" in params:
        raw = params["c"]
        if raw not in ("4", "7"):
            raise InvalidParameter("'c' must be 4 (blind ratio) or 7 (smart ratio)", param="c")
        if width is None or height is None:
            raise InvalidParameter("'c' needs both 'w' and 'h' (the crop takes their ratio)", param="c")
        crop = CropMode(int(raw))

    pad = True
    if "p" in params:
        if params["p"] not in ("0", "1"):
            raise InvalidParameter("'p' must be 0 (no padding) or 1", param="p")
        pad = params["p"] == "1"

    quality = _positive_int(params, "qlt", 100)

    dpr = 1.0
    if "dpr" in params:
        raw = params["dpr"]
        if not _DPR_RE.fullmatch(raw) or not 0 < float(raw) <= settings.max_dpr:
            raise InvalidParameter(f"'dpr' must be a number above 0 and at most {settings.max_dpr:g}", param="dpr")
        dpr = float(raw)
        if dpr != 1.0:
            if width is not None:
                width = max(1, round(width * dpr))
            if height is not None:
                height = max(1, round(height * dpr))
            if (width or 0) > settings.max_dimension or (height or 0) > settings.max_dimension:
                raise InvalidParameter(
                    f"'dpr' makes the size exceed {settings.max_dimension} pixels; lower 'w', 'h' or 'dpr'", param="dpr"
                )

    pad_color = (255, 255, 255, 255)
    if "pcl" in params:
        raw = params["pcl"]
        if not _HEX_RE.fullmatch(raw):
            raise InvalidParameter("'pcl' must be a hex colour RRGGBB or RRGGBBAA", param="pcl")
        rgba = bytes.fromhex(raw if len(raw) == 8 else raw + "ff")
        pad_color = (rgba[0], rgba[1], rgba[2], rgba[3])

    return ThumbRequest(
        id=image_id, width=width, height=height, crop=crop, pad=pad, quality=quality, dpr=dpr, pad_color=pad_color
    )


def format_th(request: ThumbRequest) -> str:
    """The inverse of :func:`parse_th` (``dpr`` folded into ``w``/``h``)."""
    params: list[tuple[str, str]] = [("id", request.id)]
    if request.width:
        params.append(("w", str(request.width)))
    if request.height:
        params.append(("h", str(request.height)))
    if request.crop is not CropMode.NONE:
        params.append(("c", str(int(request.crop))))
    if not request.pad:
        params.append(("p", "0"))
    if request.quality:
        params.append(("qlt", str(request.quality)))
    if request.pad_color != (255, 255, 255, 255):
        r, g, b, a = request.pad_color
        params.append(("pcl", f"{r:02x}{g:02x}{b:02x}" + (f"{a:02x}" if a != 255 else "")))
    return urlencode(params)

"""Content negotiation at the HTTP edge: the ``Accept`` header to the output formats a client takes.

The service and the renderer never see the header: they receive the set of
negotiable formats this returns (:func:`smartthumb.render.choose_format`
picks from it). JPEG and PNG are always acceptable and are not listed.
"""

from __future__ import annotations

import math
import re

#: Output formats chosen by negotiation, and the media type a client must name.
NEGOTIATED: dict[str, str] = {"WEBP": "image/webp"}

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


def accepts(accept: str | None, media_type: str) -> bool:
    """True when ``accept`` names ``media_type`` with a q-value above 0.

    Wildcards (``*/*``, ``image/*``) do not count: every client sends them,
    including ones that cannot show WebP (curl, old Safari), and browsers that
    can decode WebP list it explicitly.
    """
    if not accept:
        return False
    q = _accept_q(accept, media_type)
    return q is not None and q > 0


def accepts_webp(accept: str | None) -> bool:
    """True when ``Accept`` names ``image/webp`` with a q-value above 0 (see :func:`accepts`)."""
    return accepts(accept, NEGOTIATED["WEBP"])


def accepted_formats(accept: str | None) -> frozenset[str]:
    """The negotiated output formats (``"WEBP"``, ...) that ``accept`` names explicitly."""
    return frozenset(fmt for fmt, media_type in NEGOTIATED.items() if accepts(accept, media_type))

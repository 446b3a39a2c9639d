"""Content negotiation at the HTTP edge: the ``Accept`` header to the output formats a client takes.

The service and the renderer never see the header: they receive the set of
negotiable formats this returns (:func:`smartthumb.render.choose_format`
picks from it). JPEG and PNG are always acceptable and are not listed. The
rule (q-values, ``q=0`` is no, wildcards do not count) is
:mod:`smartthumb.negotiation`'s, which the CloudFront function mirrors.
"""

from __future__ import annotations

from smartthumb.negotiation import CONTENT_TYPES, MODERN, accepted_formats, explicit_q

#: Output formats chosen by negotiation, and the media type a client must name.
NEGOTIATED: dict[str, str] = {fmt: CONTENT_TYPES[fmt] for fmt in MODERN}


def accepts(accept: str | None, media_type: str) -> bool:
    """True when ``accept`` names ``media_type`` with a q-value above 0.

    Wildcards (``*/*``, ``image/*``) do not count: every client sends them,
    including ones that cannot show WebP or AVIF (curl, old Safari), and
    browsers that can decode them list them explicitly.
    """
    q = explicit_q(accept, media_type)
    return q is not None and q > 0


def accepts_webp(accept: str | None) -> bool:
    """True when ``Accept`` names ``image/webp`` with a q-value above 0 (see :func:`accepts`)."""
    return accepts(accept, NEGOTIATED["WEBP"])


__all__ = ["NEGOTIATED", "accepted_formats", "accepts", "accepts_webp"]

"""Content negotiation for ``/th``: ``Accept`` -> output format. Pure: no Pillow, no I/O.

The rule, the same here and in the CloudFront function that normalises
``Accept`` for the cache key (``AcceptNormalizer`` in template.yaml):

* A modern format (AVIF, WebP) is used only when ``Accept`` names it
  explicitly with a q-value above 0 **and** it is switched on
  (``ENABLE_AVIF``/``ENABLE_WEBP``). ``image/avif;q=0`` means no, and so does
  a malformed or non-finite q. Wildcards (``*/*``, ``image/*``) never select
  one: every client sends them, including ones that cannot show AVIF or WebP
  (curl, old Safari), and browsers that can decode a format list it.
* Among the acceptable formats the service's preference decides, AVIF >
  WebP > the source's format (PNG when transparency is kept, else JPEG).
  Positive q-values are not ranked against each other: browsers send all of
  them at 1, and ranking them would need the whole ``Accept`` in the cache key.
* The fallback is always served, even when ``Accept`` excludes it (a thumbnail
  beats a 406 for an ``<img>``).
* Animations (kept animated, see :mod:`smartthumb.animation`) are never AVIF
  (encoding every frame would not fit the deadline): animated WebP when
  accepted, else GIF.

So the answer depends on ``Accept`` only through *which* of AVIF and WebP it
accepts, and :func:`normalise_accept` reduces it to exactly that: at most
four cache-key variants, and ``choose_format(normalise_accept(a)) ==
choose_format(a)`` for every ``a`` (tested, here and against the CloudFront
function's JavaScript under Node.js).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

AVIF = "AVIF"
WEBP = "WEBP"
PNG = "PNG"
JPEG = "JPEG"
GIF = "GIF"

#: Media type of every format the service writes.
CONTENT_TYPES: dict[str, str] = {
    AVIF: "image/avif",
    WEBP: "image/webp",
    PNG: "image/png",
    JPEG: "image/jpeg",
    GIF: "image/gif",
}

#: The modern formats in the service's order of preference.
MODERN: tuple[str, ...] = (AVIF, WEBP)

#: What :func:`normalise_accept` answers when neither modern format is kept.
NO_MODERN_ACCEPT = "*/*"


@dataclass(frozen=True, slots=True)
class FormatSwitches:
    """Which modern formats the deployment may answer with (``ENABLE_AVIF``, ``ENABLE_WEBP``)."""

    avif: bool = True
    webp: bool = True

    def enabled(self, fmt: str) -> bool:
        return self.avif if fmt == AVIF else self.webp if fmt == WEBP else True

    @property
    def varies(self) -> bool:
        """True when the answer depends on ``Accept`` (then ``Vary: Accept`` is sent)."""
        return self.avif or self.webp


#: RFC 9110's qvalue grammar. Anything else (``q=abc``, ``q=1.5``, ``q=1e0``)
#: counts as 0, i.e. no: the JavaScript twin must agree, and number parsers differ.
#: HTTP's optional white space; only this is trimmed (as the JavaScript twin does).
_OWS = " \t"
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def _q(params: str) -> float:
    """The q-value among a media range's parameters (1 when absent, 0 when malformed; the last one counts)."""
    q = 1.0
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip(_OWS).lower() == "q":
            value = value.strip(_OWS)
            if not _QVALUE.fullmatch(value):
                return 0.0
            q = float(value)
    return q


def explicit_q(accept: str | None, media_type: str) -> float | None:
    """The q-value ``accept`` gives exactly ``media_type``; None when it is not named.

    Named twice, the larger q counts (lenient, as most servers are).
    """
    if not accept:
        return None
    best: float | None = None
    for item in accept.split(","):
        media, _, params = item.strip(_OWS).partition(";")
        if media.strip(_OWS).lower() != media_type:
            continue
        q = _q(params)
        best = q if best is None else max(best, q)
    return best


def accepted_formats(accept: str | None) -> frozenset[str]:
    """The modern formats ``accept`` names with q > 0, whatever is switched on (parsed at the HTTP edge)."""
    return frozenset(fmt for fmt in MODERN if (q := explicit_q(accept, CONTENT_TYPES[fmt])) is not None and q > 0)


def accepted_modern(accept: str | None, switches: FormatSwitches) -> tuple[str, ...]:
    """The switched-on modern formats ``accept`` names with q > 0, in preference order."""
    accepted = accepted_formats(accept)
    return tuple(fmt for fmt in MODERN if fmt in accepted and switches.enabled(fmt))


def choose(
    accepted: Collection[str],
    switches: FormatSwitches,
    *,
    alpha: bool,
    animated: bool = False,
) -> str:
    """The output format from the client's :func:`accepted_formats` (``alpha``: transparency kept;
    ``animated``: frames kept)."""
    modern = [fmt for fmt in MODERN if fmt in accepted and switches.enabled(fmt)]
    if animated:
        return WEBP if WEBP in modern else GIF
    if modern:
        return modern[0]
    return PNG if alpha else JPEG


def choose_format(
    accept: str | None,
    switches: FormatSwitches,
    *,
    alpha: bool,
    animated: bool = False,
) -> str:
    """:func:`choose` straight from an ``Accept`` header."""
    return choose(accepted_formats(accept), switches, alpha=alpha, animated=animated)


def normalise_accept(accept: str | None, switches: FormatSwitches) -> str:
    """``Accept`` reduced to what :func:`choose_format` reads: e.g. ``image/avif,image/webp``.

    The CloudFront function computes the same string before the cache lookup.
    """
    modern = accepted_modern(accept, switches)
    return ",".join(CONTENT_TYPES[f] for f in modern) if modern else NO_MODERN_ACCEPT

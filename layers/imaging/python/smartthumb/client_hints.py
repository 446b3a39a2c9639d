"""Client hints for ``/th`` (``ENABLE_CLIENT_HINTS``): ``Sec-CH-DPR`` and ``Sec-CH-Width``. Pure: no I/O.

The rule, the same here and in the CloudFront viewer function (``normaliseHints``
in template.yaml, which runs it before the cache lookup; the tables below are
the function's, tested to agree under Node.js):

* A URL with ``dpr`` is explicit: no hint is read.
* A URL with neither ``w`` nor ``h`` takes its width from ``Sec-CH-Width``
  (device pixels already, so no DPR on top), rounded **up** to the next of
  :data:`WIDTH_STEPS` (the largest step above them).
* A URL with ``w`` or ``h`` (and no ``dpr``) takes ``dpr`` from ``Sec-CH-DPR``,
  rounded up to the next of :data:`DPR_STEPS` (3 above them); 1 is the same as
  no hint.
* A malformed hint (not a plain decimal, 0) is no hint: a hint never makes a 400.

Only the rounded hint the rule reads reaches the cache key (the function drops
the others), so a browser's exact DPR and slot width cannot split the cache:
at most ``len(DPR_STEPS)`` variants of a ``w``/``h`` URL, ``len(WIDTH_STEPS)``
of a bare one. Rounding is idempotent, so the function's rounded value rounds
to itself here.

Here, and only here, a hinted size is also kept within ``MAX_DIMENSION`` and
``MAX_DPR`` (the next smaller step that fits, else no hint), a pure function
of the rounded value, so the cached answer is still one per cache key.

Signed URLs: the hints are request headers, which a signature over the query
cannot cover, so the service refuses ``ENABLE_CLIENT_HINTS`` with signing on
(:class:`smartthumb.config.Settings` at init, the ``ClientHintsNeedUnsignedUrls``
rule at deploy; infra/SIGNING.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

#: Device pixel ratios a hint is rounded up to (the CloudFront function's ``DPR_STEPS``).
DPR_STEPS: tuple[float, ...] = (1, 1.5, 2, 3)
#: Widths (device pixels) a ``Sec-CH-Width`` is rounded up to (the function's ``WIDTH_STEPS``).
WIDTH_STEPS: tuple[int, ...] = (64, 128, 192, 256, 320, 480, 640, 768, 960, 1080, 1280, 1600, 1920, 2560)

DPR_HEADER = "Sec-CH-DPR"
WIDTH_HEADER = "Sec-CH-Width"
#: What responses announce when hints are on.
ACCEPT_CH = f"{DPR_HEADER}, {WIDTH_HEADER}"

#: The hint values read (the same patterns as the function's); anything else is no hint.
_DPR_VALUE = re.compile(r"[0-9]{1,2}(\.[0-9]{1,20})?")
_WIDTH_VALUE = re.compile(r"[0-9]{1,5}")
_OWS = " \t"


def _step_up(steps: tuple[float, ...], value: float) -> float:
    return next((s for s in steps if s >= value), steps[-1])


def _text(step: float) -> str:
    """A step as the function writes it (JavaScript's ``String(1.5)``, ``String(2)``)."""
    return f"{step:g}"


def round_dpr(raw: str | None) -> str | None:
    """``Sec-CH-DPR`` rounded up to a step, as text; None when absent or malformed."""
    value = (raw or "").strip(_OWS)
    if not _DPR_VALUE.fullmatch(value) or not float(value) > 0:
        return None
    return _text(_step_up(DPR_STEPS, float(value)))


def round_width(raw: str | None) -> str | None:
    """``Sec-CH-Width`` rounded up to a step, as text; None when absent or malformed."""
    value = (raw or "").strip(_OWS)
    if not _WIDTH_VALUE.fullmatch(value) or not int(value) > 0:
        return None
    return _text(_step_up(tuple(float(s) for s in WIDTH_STEPS), float(value)))


@dataclass(frozen=True, slots=True)
class Hints:
    """What the hints add to a ``/th`` query, and which hint headers the answer depends on."""

    #: Query values to add (``dpr`` or ``w``), as the function leaves them in the request headers.
    dpr: str | None = None
    width: str | None = None
    #: The hint headers this URL's answer depends on, whether or not the request sent them (``Vary``).
    consulted: tuple[str, ...] = ()


def normalise(names: Mapping[str, str], dpr_header: str | None, width_header: str | None) -> Hints:
    """The rule of the module docstring: the rounded hints kept for the query ``names``.

    The CloudFront function computes the same (its ``normaliseHints``), before the cache lookup.
    """
    if "dpr" in names:
        return Hints()
    if "w" not in names and "h" not in names:
        return Hints(width=round_width(width_header), consulted=(WIDTH_HEADER,))
    dpr = round_dpr(dpr_header)
    return Hints(dpr=None if dpr == "1" else dpr, consulted=(DPR_HEADER,))


def _int_or_none(raw: str | None) -> int | None:
    # ASCII digits only: str.isdigit() is also true of "²", which int() refuses (the 400 comes later, from parsing).
    return int(raw) if raw is not None and raw.isascii() and raw.isdigit() else None


def apply(
    params: Mapping[str, str],
    dpr_header: str | None,
    width_header: str | None,
    *,
    max_dimension: int,
    max_dpr: float,
) -> tuple[dict[str, str], Hints]:
    """``params`` with the hinted ``dpr``/``w`` added (kept within the limits), and the hints."""
    hints = normalise(params, dpr_header, width_header)
    out = dict(params)
    if hints.width is not None:
        out["w"] = _text(min(float(hints.width), float(max_dimension)))
    if hints.dpr is not None:
        largest = max((_int_or_none(params.get(n)) or 0 for n in ("w", "h")), default=0)
        fitting = [
            s
            for s in DPR_STEPS
            if 1 < s <= float(hints.dpr) and s <= max_dpr and largest and round(largest * s) <= max_dimension
        ]
        if fitting:
            out["dpr"] = _text(fitting[-1])
    return out, hints

"""A region of interest a person sets, and which region decides a crop. Pure: no I/O.

One manual region per image version lives in its sidecar (``manualRegion``),
set by ``PUT /analysis?id=``, ``smartthumb focus`` or a drag on the preview
page. The region that decides a smart crop is, in this order:

1. **manual** -- the person's region;
2. **embedded** -- the face and focus regions the file carries in XMP
   (:mod:`smartthumb.embedded_regions`), found by the analysis;
3. **faces** -- the detected faces;
4. **saliency** -- the salient region;
5. **centre** -- nothing: the crop is centred (``c=7`` too; blind ratio only
   when there is no analysis at all).

A manual or embedded region is a region that *must be kept* (a **pinned**
region): every crop box is placed by the one pinned-region rule,
:func:`smartthumb.placement.pinned_window` -- held whole, centred, whenever
it fits; otherwise the window stays inside it and keeps its most important
part (the faces inside it, detected or embedded, else its top when it is taller than the
window, its middle when wider). ``/th?c=7`` (through
:meth:`~smartthumb.sidecars.cache.AnalysisCache.region_for`), the Azure
boxes stored here, ``GET /analysis``, the preview and the CLI all place
with it, so they agree. The boxes the analysis placed without it are kept
beside the manual region (``manualRegion.detected``), so clearing it gives
them back exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from smartthumb import placement
from smartthumb.errors import InvalidParameter
from smartthumb.geometry import Box, Size

MANUAL, EMBEDDED, FACES, SALIENCY, CENTRE = "manual", "embedded", "faces", "saliency", "centre"
#: Largest ``PUT /analysis`` body read (a region is about 50 bytes).
MAX_BODY_BYTES = 4096
#: The automatic crop's ratio range (Azure's), as :mod:`smartthumb.analysis.boxes` uses it.
AUTO_RATIO_MIN, AUTO_RATIO_MAX = 0.5, 2.0


@dataclass(frozen=True, slots=True)
class DecidedRegion:
    box: Box | None
    origin: str  # manual, embedded, faces, saliency or centre


# ------------------------------------------------------------------- parsing


def _region_error(message: str) -> InvalidParameter:
    return InvalidParameter(message, param="region")


def parse_region_body(body: bytes | str | None) -> Box | None:
    """The region of a ``PUT /analysis`` body: ``{"region": {"x","y","w","h"}}``
    or ``{"region": null}`` (``None``: clear). Raises :class:`InvalidParameter` (400)."""
    if body is None or body == b"" or body == "":
        raise _region_error('the body must be JSON: {"region": {"x", "y", "w", "h"}} or {"region": null}')
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise _region_error(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: deep nesting
        raise _region_error("the body is not valid JSON") from exc
    if not isinstance(doc, dict) or set(doc) != {"region"}:
        raise _region_error('the body must be an object with exactly one key, "region"')
    region = doc["region"]
    if region is None:
        return None
    if not isinstance(region, dict) or set(region) != {"x", "y", "w", "h"}:
        raise _region_error('"region" must be null or an object with exactly "x", "y", "w" and "h"')
    values = []
    for name in ("x", "y", "w", "h"):
        value = region[name]
        # JSON numbers only; 12.0 is 12, 12.5 is not a pixel, true is not a number.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _region_error(f'"{name}" must be a whole number of pixels')
        if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
            raise _region_error(f'"{name}" must be a whole number of pixels')
        values.append(int(value))
    return Box(*values)


def parse_region_arg(text: str) -> Box:
    """``x,y,w,h`` (the ``smartthumb focus`` argument). Raises :class:`InvalidParameter`."""
    parts = [p.strip() for p in text.split(",")]
    # ASCII digits only: str.isdigit() is also true of "²" and "①", which int() refuses.
    if len(parts) != 4 or not all(p.lstrip("-").isascii() and p.lstrip("-").isdigit() for p in parts):
        raise _region_error("the region must be four whole numbers: x,y,w,h")
    return Box(*(int(p) for p in parts))


def check_inside(box: Box, size: Size) -> None:
    """400 unless ``box`` is a non-empty box inside an image of ``size`` (oriented pixels)."""
    if box.w <= 0 or box.h <= 0:
        raise _region_error("the region must have a positive width and height")
    if not box.inside(size):
        raise _region_error(
            f"the region {box.x},{box.y},{box.w},{box.h} is not inside the image ({size.width}x{size.height})"
        )


# ---------------------------------------------------------------- placement


def auto_ratio(region: Box) -> float:
    """The automatic crop's ratio for a region that must be kept: its own, clamped."""
    return round(min(max(region.w / region.h, AUTO_RATIO_MIN), AUTO_RATIO_MAX), 2)


def pinned_crops(
    size: Size, ratios: Sequence[float], region: Box, faces: Sequence[Box] = ()
) -> tuple[tuple[float, Box], ...]:
    """One box per ratio that keeps ``region`` (the pinned-region rule; ``faces`` are the detected ones)."""
    return tuple((float(r), placement.place_ratio(size, float(r), faces, None, region, region)) for r in ratios)


def azure_answer(model_version: str | None, size: Size, crops: Sequence[tuple[float, Box]]) -> dict[str, Any]:
    """Azure AI Vision 4.0's smart-crops answer for ``crops``."""
    from types import SimpleNamespace

    from smartthumb.azure.contract import smart_crops_answer

    return smart_crops_answer(
        SimpleNamespace(model_version=model_version or "", width=size.width, height=size.height, crops=crops)
    )


# ------------------------------------------------------------- the sidecar


def box_json(box: Box) -> dict[str, int]:
    return {"x": box.x, "y": box.y, "w": box.w, "h": box.h}


def box_from_json(raw: Any) -> Box | None:
    """The sidecar document's box parser (``None`` for anything that is not a non-empty box)."""
    # Deferred: importing the sidecars package loads its cache, which imports this module.
    from smartthumb.sidecars.document import box_from_json as parse

    return parse(raw)


def face_boxes(sidecar: Any) -> list[Box]:
    """The detected faces a sidecar keeps (``[{"box": [x, y, w, h], "score"}]``), as boxes."""
    return [
        Box(*(int(v) for v in f["box"]))
        for f in getattr(sidecar, "faces", ()) or ()
        if isinstance(f, Mapping) and isinstance(f.get("box"), list) and len(f["box"]) == 4
    ]


def pinned_faces(sidecar: Any) -> list[Box]:
    """The faces that refine a pinned region: the detected ones and the face regions
    the file embeds (as :meth:`smartthumb.analysis.analyzer.Analysis.crops_for` uses them)."""
    embedded = (getattr(sidecar, "analysis", None) or {}).get("embeddedRegions") or ()
    named = [
        box_from_json(dict(zip("xywh", r["box"], strict=True)))
        for r in embedded
        if isinstance(r, Mapping) and r.get("kind") == "face" and isinstance(r.get("box"), list) and len(r["box"]) == 4
    ]
    return face_boxes(sidecar) + [b for b in named if b is not None]


def stored_boxes(sidecar: Any) -> list[Box]:
    """The boxes of a sidecar's stored Azure answers (the configured ratios, then the automatic crop)."""
    found = []
    for answer in (sidecar.azure, sidecar.azure_automatic):
        values = ((answer or {}).get("smartCropsResult") or {}).get("values") or ()
        for value in values:
            box = box_from_json(value.get("boundingBox")) if isinstance(value, Mapping) else None
            if box is not None:
                found.append(box)
    return found


def sidecar_size(sidecar: Any) -> Size | None:
    if sidecar.width and sidecar.height:
        return Size(int(sidecar.width), int(sidecar.height))
    return None


def with_manual_region(sidecar: Any, box: Box | None, set_at: str = "") -> Any:
    """``sidecar`` with its manual region set to ``box`` (``None``: cleared).

    Setting re-places the Azure boxes around ``box`` and keeps the detected
    ones in ``manualRegion.detected``; clearing restores those.
    """
    manual = getattr(sidecar, "manual_region", None) or {}
    detected = manual.get("detected") or {"azure": sidecar.azure, "azureAutomatic": sidecar.azure_automatic}
    if box is None:
        if not manual:
            return sidecar
        return replace(
            sidecar, manual_region=None, azure=detected.get("azure"), azure_automatic=detected.get("azureAutomatic")
        )
    size = sidecar_size(sidecar)
    if size is None:
        raise _region_error("the image has no analysis to attach a region to")
    check_inside(box, size)
    faces = pinned_faces(sidecar)
    return replace(
        sidecar,
        manual_region={**box_json(box), "setAt": set_at, "detected": detected},
        azure=azure_answer(sidecar.model_version, size, pinned_crops(size, sidecar.ratios, box, faces)),
        azure_automatic=azure_answer(sidecar.model_version, size, pinned_crops(size, [auto_ratio(box)], box, faces)),
    )


def carry_manual_region(new: Any, current: Any | None) -> Any:
    """A re-analysis of the *same* image version keeps the person's region.

    A new version (another ETag: the image itself was replaced) starts
    without one: the region was drawn on other pixels.
    """
    if current is None or getattr(new, "manual_region", None) or not getattr(current, "manual_region", None):
        return new
    if current.etag != new.etag or not new.ok:
        return new
    box = box_from_json(current.manual_region)
    size = sidecar_size(new)
    if box is None or size is None or not box.inside(size):
        return new
    return with_manual_region(new, box, str(current.manual_region.get("setAt") or ""))


def decided_region(sidecar: Any) -> DecidedRegion:
    """Which region decides this image's crops (the priority in the module docstring)."""
    manual = box_from_json(getattr(sidecar, "manual_region", None))
    if manual is not None:
        return DecidedRegion(manual, MANUAL)
    analysis = sidecar.analysis or {}
    origin = analysis.get("regionOrigin")
    if sidecar.roi is None:
        return DecidedRegion(None, CENTRE)
    if origin in (EMBEDDED, FACES, SALIENCY):
        return DecidedRegion(sidecar.roi, origin)
    return DecidedRegion(sidecar.roi, FACES if sidecar.faces else SALIENCY)


def analysis_document(sidecar: Any) -> dict[str, Any]:
    """What ``GET``/``PUT /analysis`` answer: the Azure answer (so Azure clients
    read it as is) plus the deciding region, its origin, the faces with their
    scores, the embedded regions and the manual region."""
    decided = decided_region(sidecar)
    analysis = sidecar.analysis or {}
    manual = getattr(sidecar, "manual_region", None)
    return {
        **(sidecar.azure or {}),
        "region": None if decided.box is None else box_json(decided.box),
        "regionOrigin": decided.origin,
        "faces": [
            {"box": box_json(Box(*f["box"])), "score": f.get("score")}
            for f in sidecar.faces
            if isinstance(f, Mapping) and isinstance(f.get("box"), list) and len(f["box"]) == 4
        ],
        "embeddedRegions": list(analysis.get("embeddedRegions") or []),
        "manualRegion": None if not manual else {k: manual[k] for k in ("x", "y", "w", "h", "setAt") if k in manual},
        # The lazy-loading placeholder ({"blurhash", "color"}, smartthumb.placeholders), when analysed.
        "placeholder": analysis.get("placeholder") if isinstance(analysis.get("placeholder"), dict) else None,
    }

"""Orchestration: image bytes -> one reduced decode -> faces -> saliency -> boxes.

The source is decoded once, reduced to at most :data:`ANALYSIS_LONG_SIDE`
pixels on the long side (JPEGs via libjpeg's DCT scaling, ``draft``, so a
12-megapixel photo never decodes at full size), after EXIF orientation. The
same RGB array feeds YuNet and, when needed, U²-Net-p.

Saliency runs only when no face was found: with faces, the faces decide the
region and the boxes (see :mod:`.boxes`), and skipping U²-Net-p saves most of
the analysis time.

One pass per image: the :class:`Analysis` keeps what box placement needs (the
faces, and the saliency map in memory), so :meth:`Analysis.crops_for` and
:meth:`Analysis.automatic` derive any other ratio set without a model run.

All boxes in the result are in full-resolution, oriented source pixels.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from smartthumb.analysis import boxes, models
from smartthumb.analysis.models import MODEL_VERSION
from smartthumb.config import Settings
from smartthumb.embedded_regions import EmbeddedRegion, read_embedded_regions, region_of_interest
from smartthumb.errors import SourceTooLarge, UnsupportedImage
from smartthumb.geometry import Box, Size

__all__ = [
    "Analysis",
    "Decoded",
    "Face",
    "analyze_array",
    "analyze_image",
    "decode_for_analysis",
]

log = logging.getLogger(__name__)

#: Long side of the shared analysis image. YuNet's input is 640, so a larger
#: decode would only be thrown away; U²-Net-p needs far less.
ANALYSIS_LONG_SIDE = 640

#: Side at which U²-Net-p runs (its training size).
SALIENCY_SIDE = 320


@dataclass(frozen=True)
class Face:
    box: Box
    score: float
    landmarks: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Analysis:
    """What the analysis found, in oriented source pixels.

    ``crops`` pairs each requested ratio (or the automatic one) with its box.
    ``saliency`` is the U²-Net-p map when it was computed (kept in memory for
    :meth:`crops_for`; not serialised, not compared).
    """

    width: int
    height: int
    faces: tuple[Face, ...]
    roi: Box | None
    crops: tuple[tuple[float, Box], ...]
    model_version: str = MODEL_VERSION
    saliency: np.ndarray | None = field(default=None, compare=False, repr=False)
    #: The saliency map's projections (compact), what placement uses; kept in the sidecar.
    importance: boxes.Importance | None = None
    #: Regions the file embeds (XMP MWG / IPTC), and which signal made ``roi``:
    #: ``embedded``, ``faces``, ``saliency`` or ``None`` (nothing: centred).
    embedded: tuple[EmbeddedRegion, ...] = ()
    region_origin: str | None = None
    #: ``{"blurhash", "color"}`` for lazy loading (see :mod:`smartthumb.placeholders`).
    placeholder: dict[str, str] | None = None

    def crops_for(self, ratios: Sequence[float] | None) -> Analysis:
        """This analysis with crops for ``ratios`` (none or empty: the automatic crop).

        Only box placement runs: the same faces, saliency map and region of
        interest as the pass that produced this analysis.
        """
        size = Size(self.width, self.height)
        requested = [float(r) for r in ratios or []]
        if any(not math.isfinite(r) or r <= 0 for r in requested):
            raise ValueError("aspect ratios must be positive numbers")
        if not requested:
            requested = [boxes.auto_ratio(size, self.roi)]
        face_boxes = [f.box for f in self.faces]
        # A region the file names must be kept: the pinned-region rule, as for a
        # manual one; the faces inside it (detected or named by the file) refine it.
        pinned = self.roi if self.region_origin == "embedded" else None
        if pinned is not None:
            face_boxes += [r.box for r in self.embedded if r.kind == "face"]
        crops = tuple(
            (r, boxes.crop_for_ratio(size, r, face_boxes, self.importance, self.roi, pinned)) for r in requested
        )
        return replace(self, crops=crops)

    def automatic(self) -> Analysis:
        """This analysis with the one automatic crop (see :func:`.boxes.auto_ratio`)."""
        return self.crops_for(None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form that :meth:`from_dict` reads back to an equal value."""

        def box(b: Box) -> list[int]:
            return [b.x, b.y, b.w, b.h]

        return {
            "modelVersion": self.model_version,
            "width": self.width,
            "height": self.height,
            "faces": [
                {"box": box(f.box), "score": f.score, "landmarks": [list(p) for p in f.landmarks]} for f in self.faces
            ],
            "roi": box(self.roi) if self.roi is not None else None,
            "crops": [{"aspectRatio": ratio, "box": box(b)} for ratio, b in self.crops],
            "importance": self.importance.to_lists() if self.importance is not None else None,
            "regionOrigin": self.region_origin,
            "embeddedRegions": [r.to_dict() for r in self.embedded],
            "placeholder": dict(self.placeholder) if self.placeholder else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Analysis:
        def box(v: Sequence[int]) -> Box:
            x, y, w, h = (int(n) for n in v)
            return Box(x, y, w, h)

        return cls(
            width=int(d["width"]),
            height=int(d["height"]),
            faces=tuple(
                Face(
                    box=box(f["box"]),
                    score=float(f["score"]),
                    landmarks=tuple((float(p[0]), float(p[1])) for p in f["landmarks"]),
                )
                for f in d["faces"]
            ),
            roi=box(d["roi"]) if d.get("roi") is not None else None,
            crops=tuple((float(c["aspectRatio"]), box(c["box"])) for c in d["crops"]),
            model_version=str(d["modelVersion"]),
            importance=boxes.Importance.from_lists(d["importance"]) if d.get("importance") else None,
            embedded=tuple(
                EmbeddedRegion(box(r["box"]), str(r["kind"]), str(r["scheme"]), str(r.get("name") or ""))
                for r in d.get("embeddedRegions") or ()
            ),
            region_origin=d.get("regionOrigin"),
            placeholder=_placeholder_from(d.get("placeholder")),
        )

    def crop_for(self, ratio: float) -> Box | None:
        for r, b in self.crops:
            if math.isclose(r, ratio):
                return b
        return None


@dataclass(frozen=True)
class Decoded:
    """The shared analysis image and the size it stands for."""

    rgb: np.ndarray  # H x W x 3 uint8, at most ANALYSIS_LONG_SIDE on the long side
    size: Size  # full-resolution oriented source size
    embedded: tuple[EmbeddedRegion, ...] = ()  # XMP regions of the file, oriented source pixels


def decode_for_analysis(data: bytes, settings: Settings, long_side: int = ANALYSIS_LONG_SIDE) -> Decoded:
    """Decode ``data`` once, oriented and reduced; enforce the source limits.

    Validation and limits are :func:`smartthumb.render.open_image`'s (the same
    formats and the same 415/413 errors as thumbnails). Raises
    :class:`UnsupportedImage` (415) and :class:`SourceTooLarge` (413).
    """
    from PIL import Image

    from smartthumb.geometry import plan_thumbnail
    from smartthumb.render import execute, open_image

    if len(data) > settings.max_source_bytes:
        raise SourceTooLarge(f"the source image is larger than {settings.max_source_bytes} bytes")
    opened = open_image(data, settings)
    # The thumbnail path does the reduction: JPEG draft, libspng strips for
    # PNG, every mode, EXIF orientation, all before any full-size copy.
    k = min(1.0, long_side / max(opened.size.width, opened.size.height))
    target = (max(1, round(opened.size.width * k)), max(1, round(opened.size.height * k)))
    plan = plan_thumbnail(opened.size, target[0], target[1], pad=False)
    image = execute(opened, plan, (255, 255, 255, 255))
    try:
        if image.mode in ("RGBA", "LA"):
            # Transparent areas read as white, as a viewer on a page shows them.
            flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
            flat.alpha_composite(image.convert("RGBA"))
            image = flat
        rgb = np.asarray(image.convert("RGB"))
    except MemoryError:
        raise
    except Exception as exc:  # defensive: execute already maps decoder failures to 415
        raise UnsupportedImage("the source is not an image this service can decode") from exc
    # Bytes only (bounded, hardened XML): the header gave the stored size and orientation.
    embedded = read_embedded_regions(data, Size(*opened.image.size), opened.orientation)
    return Decoded(rgb=rgb, size=opened.size, embedded=embedded)


#: Long side of the image the placeholders are computed from (BlurHash needs
#: only its lowest frequencies; 32 px costs ~4 ms of pure Python).
PLACEHOLDER_SIDE = 32


def placeholder_of(rgb: np.ndarray) -> dict[str, str]:
    """BlurHash and dominant colour of the analysis image."""
    from PIL import Image

    from smartthumb.placeholders import placeholder

    small = Image.fromarray(rgb)
    small.thumbnail((PLACEHOLDER_SIDE, PLACEHOLDER_SIDE), Image.Resampling.BOX)
    return placeholder(small.width, small.height, small.tobytes()).to_json()


def _placeholder_from(raw: Any) -> dict[str, str] | None:
    if isinstance(raw, dict) and isinstance(raw.get("blurhash"), str) and isinstance(raw.get("color"), str):
        return {"blurhash": raw["blurhash"], "color": raw["color"]}
    return None


def _to_source_box(x: float, y: float, w: float, h: float, sx: float, sy: float, size: Size) -> Box:
    return boxes.clip_box(x * sx, y * sy, (x + w) * sx, (y + h) * sy, size)


def analyze_array(
    decoded: Decoded,
    ratios: Sequence[float] | None,
    *,
    saliency_side: int = SALIENCY_SIDE,
    always_saliency: bool = False,
) -> Analysis:
    """Analyse an already decoded image (see :func:`analyze_image`)."""
    from smartthumb.analysis import faces as face_model

    rgb, size = decoded.rgb, decoded.size
    sx = size.width / rgb.shape[1]
    sy = size.height / rgb.shape[0]
    found: list[Face] = []
    for raw in face_model.detect_faces(rgb):
        found.append(
            Face(
                box=_to_source_box(raw.x, raw.y, raw.w, raw.h, sx, sy, size),
                score=round(raw.score, 4),
                landmarks=tuple((round(px * sx, 1), round(py * sy, 1)) for px, py in raw.landmarks),
            )
        )
    embedded_roi = region_of_interest(decoded.embedded)
    saliency = None
    if always_saliency or (not found and embedded_roi is None):  # an embedded region outranks saliency
        from smartthumb.analysis import saliency as saliency_model

        saliency = saliency_model.saliency_map(rgb, saliency_side)
    if embedded_roi is not None:
        roi, origin = embedded_roi, "embedded"
    else:
        roi = boxes.region_of_interest([f.box for f in found], saliency, size)
        origin = None if roi is None else ("faces" if found else "saliency")
    from smartthumb.analysis import detail

    importance = (
        boxes.Importance.from_map(
            detail.weighted(saliency, rgb), size, roi, salient=saliency >= boxes.SALIENCY_THRESHOLD
        ).compact()
        if saliency is not None
        else None
    )
    whole = Analysis(
        width=size.width,
        height=size.height,
        faces=tuple(found),
        roi=roi,
        crops=(),
        saliency=saliency,
        importance=importance,
        embedded=decoded.embedded,
        region_origin=origin,
        placeholder=placeholder_of(rgb),
    )
    return whole.crops_for(ratios)


def analyze_image(data: bytes, ratios: Sequence[float] | None, settings: Settings) -> Analysis:
    """Full analysis of an encoded image.

    ``ratios`` are taken as given (validate request input with
    :func:`smartthumb.azure.request.parse_aspect_ratios` first); ``None`` or
    empty gives one automatic crop with a ratio in [0.5, 2.0]; the result's
    :meth:`Analysis.crops_for` gives any other set without a second pass.
    Raises :class:`UnsupportedImage`, :class:`SourceTooLarge` or
    :class:`~smartthumb.analysis.models.ModelUnavailable`.
    """
    models.configure(settings)
    return analyze_array(decode_for_analysis(data, settings), ratios)

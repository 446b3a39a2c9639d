"""Where a smart-ratio (``c=7``) crop gets its region of interest.

The thumbnail path depends only on this small interface; the ONNX analysis
(:mod:`smartthumb.analysis`) and the precomputed sidecars plug in behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from smartthumb.geometry import Box, Size
from smartthumb.sources import SourceObject


@dataclass(frozen=True, slots=True)
class RegionHint:
    """A region of interest in oriented source pixels, or ``None``.

    ``origin`` says where it came from, for a response header and the logs:
    ``sidecar`` (precomputed), ``computed`` (analysed now), ``none`` (nothing
    salient found: the centred box), ``fallback`` (analysis unavailable or over
    its time budget: blind ratio, cached briefly).
    """

    box: Box | None
    origin: str
    #: What decided it, known without pixels (:meth:`VersionedRegions.region_version`): goes into
    #: the ETag. Empty for a fallback, whose answer is temporary and never matched before decoding.
    version: str = field(default="", compare=False)
    #: Places the crop for a ratio by the analysis's own rule (faces, region,
    #: importance from the sidecar), so ``c=7`` crops the Azure box.
    place: Callable[[float], Box] | None = field(default=None, compare=False, repr=False)


class RegionProvider(Protocol):
    def region_for(self, source: SourceObject, size: Size, budget_ms: int) -> RegionHint: ...


class VersionedRegions(RegionProvider, Protocol):
    def region_version(self, key: str, etag: str) -> str | None:
        """What will decide the region of this source version (a sidecar's content, or that there is
        none and the deterministic models will), without reading the source; ``None`` when the
        answer will be a fallback (temporary), so a 304 cannot be decided before decoding."""
        ...


class NoRegionProvider:
    """Always blind ratio: used where no analysis is configured."""

    def region_for(self, source: SourceObject, size: Size, budget_ms: int) -> RegionHint:
        return RegionHint(None, "fallback")

    def region_version(self, key: str, etag: str) -> str | None:
        return None  # always a fallback

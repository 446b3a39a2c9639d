"""Orchestration of one ``/th`` request: source → header → plan → pixels.

No HTTP here: the handler turns a :class:`Thumbnail` or a ``ThumbError``
into a response. The order is chosen so the cheap steps run first: the
source header (size, format) and the region of interest decide the ETag, so
a matching ``If-None-Match`` is answered before any pixel is decoded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from smartthumb import __version__, limits, render
from smartthumb.config import Settings
from smartthumb.geometry import CropMode, plan_thumbnail
from smartthumb.regions import NoRegionProvider, RegionHint, RegionProvider
from smartthumb.request import ThumbRequest
from smartthumb.sources import ImageSource

#: Bumped when a change alters output pixels, so cached ETags turn over.
RENDER_VERSION = f"{__version__}.1"


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A rendered thumbnail, or (``body is None``) a 304 for a matching ETag."""

    body: bytes | None
    content_type: str
    etag: str
    cache_control: str
    region_origin: str | None
    vary_accept: bool


def make_etag(source_etag: str, request: ThumbRequest, fmt: str, region: RegionHint | None) -> str:
    """Strong ETag: the source version + normalised parameters + format (+ the
    smart-crop region, so a blind-ratio fallback and a later smart crop differ)."""
    parts = [RENDER_VERSION, source_etag, request.id, request.cache_key(), fmt]
    if region is not None:
        parts.append(repr(region.box))
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f'"{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison over a comma-separated list (or ``*``)."""
    if not if_none_match:
        return False
    candidates = [c.strip() for c in if_none_match.split(",")]
    bare = etag.removeprefix("W/")
    return any(c == "*" or c.removeprefix("W/") == bare for c in candidates)


class ThumbnailService:
    """Render ``/th`` requests from one image source."""

    def __init__(self, settings: Settings, source: ImageSource, regions: RegionProvider | None = None) -> None:
        self.settings = settings
        self.source = source
        self.regions = regions or NoRegionProvider()

    def thumbnail(
        self,
        request: ThumbRequest,
        *,
        accepted: frozenset[str] = frozenset(),
        if_none_match: str | None = None,
        remaining_ms: int | None = None,
        force_format: str | None = None,
    ) -> Thumbnail:
        """Render ``request``; ``force_format`` overrides content negotiation (CLI ``-o``).

        ``accepted`` holds the negotiated output formats the client takes
        (:func:`smartthumb.accept.accepted_formats`, parsed at the HTTP edge).
        """
        deadline = limits.Deadline(remaining_ms)
        deadline.require(limits.RENDER_FLOOR_MS)  # no time left: 503 before touching the store
        source = self.source.get(request.id)
        opened = render.open_image(source.data, self.settings)
        if force_format is not None and force_format.upper() not in render.CONTENT_TYPES:
            raise ValueError(f"unsupported output format {force_format!r}")
        fmt = (
            force_format.upper()
            if force_format
            else render.choose_format(opened, accepted, self.settings, request.pad_color)
        )

        render_ms = limits.render_reserve_ms(opened.size.area)
        hint: RegionHint | None = None
        if request.crop is CropMode.SMART_RATIO:
            # Counts the time already spent; keeps at least a second for the render.
            budget = deadline.analysis_budget_ms(self.settings.analysis_time_budget_ms, render_ms)
            hint = self.regions.region_for(source, opened.size, budget)

        etag = make_etag(source.etag, request, fmt, hint)
        fell_back = hint is not None and hint.origin == "fallback"
        cache_control = self.settings.fallback_cache_control if fell_back else self.settings.cache_control
        vary = self.settings.enable_webp
        if etag_matches(if_none_match, etag):
            return Thumbnail(None, render.CONTENT_TYPES[fmt], etag, cache_control, hint and hint.origin, vary)

        plan = plan_thumbnail(
            opened.size, request.width, request.height, request.crop, request.pad, hint.box if hint else None
        )
        limits.check_plan(plan, self.settings)  # a derived side can exceed MAX_DIMENSION: 413
        deadline.require(render_ms)  # decode + resize estimated from the source pixels: 503
        image = render.execute(opened, plan, request.pad_color, deadline)  # checked between steps too
        quality = request.quality or self.settings.default_quality
        body = render.encode(image, fmt, quality, opened.icc_profile, self.settings.max_output_bytes, deadline=deadline)
        return Thumbnail(body, render.CONTENT_TYPES[fmt], etag, cache_control, hint and hint.origin, vary)

"""Orchestration of one ``/th`` request: source → header → plan → pixels.

No HTTP here: the handler turns a :class:`Thumbnail` or a ``ThumbError``
into a response. The order is chosen so the cheap steps run first: the
source header (size, format) and the region of interest decide the ETag, so
a matching ``If-None-Match`` is answered before any pixel is decoded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from smartthumb import __version__, animation, limits, negotiation, render
from smartthumb.config import Settings
from smartthumb.errors import SourceUnavailable
from smartthumb.geometry import Box, CropMode, plan_thumbnail
from smartthumb.quality import avif_fits, output_quality
from smartthumb.regions import NoRegionProvider, RegionHint, RegionProvider
from smartthumb.render_store import RenderStore, render_key
from smartthumb.request import ThumbRequest
from smartthumb.sources import ImageSource

#: Response headers saying how the answer was made (besides X-Smartthumb-Region).
ANIMATION_HEADER = "X-Smartthumb-Animation"
FORMAT_FALLBACK_HEADER = "X-Smartthumb-Format-Fallback"
STORE_HEADER = "X-Smartthumb-Store"

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
    #: More response headers (``X-Smartthumb-Animation``, ``-Format-Fallback``, ``-Store``).
    headers: tuple[tuple[str, str], ...] = ()
    #: Set when the body is too large for a response: it is in the render store, fetch it here.
    location: str | None = None
    #: The crop box in oriented source pixels (``c=4`` and ``c=7``), for ``X-Smartthumb-Crop``.
    crop: Box | None = None


def make_etag(source_etag: str, request: ThumbRequest, fmt: str, region: RegionHint | None) -> str:
    """Strong ETag: the source version + normalised parameters + format (+ the
    smart-crop region, so a blind-ratio fallback and a later smart crop differ)."""
    parts = [RENDER_VERSION, source_etag, request.id, request.cache_key(), fmt]
    if region is not None:
        parts.append(repr(region.box))
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f'"{digest}"'


def store_digest(
    settings: Settings,
    source_etag: str,
    request: ThumbRequest,
    accepted: Collection[str],
    region: RegionHint | None,
) -> str:
    """The render store's key digest (see :mod:`smartthumb.render_store`): everything that decides the
    output, the region aside known before the source is read."""
    switches = render.format_switches(settings)
    modern = [fmt for fmt in negotiation.MODERN if fmt in accepted and switches.enabled(fmt)]
    parts = [
        RENDER_VERSION,
        source_etag,
        request.id,
        request.cache_key(),
        ",".join(modern),
        str(settings.default_quality),
        f"{settings.max_animation_frames}x{settings.max_animation_pixels}",
    ]
    if region is not None:
        parts.append(repr(region.box))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def meta_of(headers: list[tuple[str, str]], crop: Box | None) -> dict[str, str]:
    """What a stored render keeps of its response besides the body (:func:`headers_from_meta` reverses it)."""
    animation = dict(headers).get(ANIMATION_HEADER)
    meta = {} if animation is None else {"animation": animation}
    if crop is not None:
        meta["crop"] = f"{crop.x},{crop.y},{crop.w},{crop.h}"
    return meta


def headers_from_meta(meta: Mapping[str, str]) -> tuple[tuple[tuple[str, str], ...], Box | None]:
    """A stored render's response headers and crop box, as rendering it answered them."""
    headers = ((ANIMATION_HEADER, meta["animation"]),) if "animation" in meta else ()
    try:
        crop = Box(*(int(v) for v in meta["crop"].split(","))) if "crop" in meta else None
    except (TypeError, ValueError):
        crop = None  # not ours: left out rather than failing a hit
    return headers, crop


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison over a comma-separated list (or ``*``)."""
    if not if_none_match:
        return False
    candidates = [c.strip() for c in if_none_match.split(",")]
    bare = etag.removeprefix("W/")
    return any(c == "*" or c.removeprefix("W/") == bare for c in candidates)


class ThumbnailService:
    """Render ``/th`` requests from one image source."""

    def __init__(
        self,
        settings: Settings,
        source: ImageSource,
        regions: RegionProvider | None = None,
        store: RenderStore | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.regions = regions or NoRegionProvider()
        self.store = store
        self.animation_budget = animation.AnimationBudget(settings.max_animation_frames, settings.max_animation_pixels)

    def _from_store(
        self, request: ThumbRequest, accepted: Collection[str], if_none_match: str | None
    ) -> Thumbnail | None:
        """A stored render found with the source's ETag alone (no download, no decode), or None."""
        etag_of = getattr(self.source, "etag", None)
        if self.store is None or etag_of is None:
            return None
        source_etag = etag_of(request.id)
        digest = store_digest(self.settings, source_etag, request, accepted, None)
        key = render_key(self.store.prefix, request.id, digest)
        stored = self.store.get(key)
        fmt = next((f for f, ct in render.CONTENT_TYPES.items() if stored and ct == stored.content_type), None)
        if stored is None or fmt is None:
            return None
        etag = make_etag(source_etag, request, fmt, None)  # what rendering it would answer
        vary = render.format_switches(self.settings).varies
        headers, crop = headers_from_meta(stored.meta)  # what rendering it answered
        headers = (*headers, (STORE_HEADER, "hit"))
        cache_control = self.settings.cache_control
        if etag_matches(if_none_match, etag):
            return Thumbnail(None, stored.content_type, etag, cache_control, None, vary, headers, None, crop)
        if len(stored.body) > self.settings.max_inline_bytes:
            location = self.store.location(key)
            return Thumbnail(None, stored.content_type, etag, cache_control, None, vary, headers, location, crop)
        return Thumbnail(stored.body, stored.content_type, etag, cache_control, None, vary, headers, None, crop)

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
        if force_format is None and request.crop is not CropMode.SMART_RATIO:
            served = self._from_store(request, accepted, if_none_match)
            if served is not None:
                return served
        source = self.source.get(request.id)
        opened = render.open_image(source.data, self.settings)
        if force_format is not None and force_format.upper() not in render.CONTENT_TYPES:
            raise ValueError(f"unsupported output format {force_format!r}")
        headers: list[tuple[str, str]] = []
        verdict = None
        if opened.format in render.ANIMATED_FORMATS:
            verdict = animation.keep_animated(opened.frames, opened.size, self.animation_budget)
        animated = verdict == animation.KEPT and (force_format or "GIF").upper() in render.ANIMATED_FORMATS
        fmt = (
            force_format.upper()
            if force_format
            else render.choose_format(opened, accepted, self.settings, request.pad_color, animated=animated)
        )
        if verdict is not None:
            headers.append((ANIMATION_HEADER, verdict if verdict != animation.KEPT or animated else "first-frame"))

        decoded_pixels = opened.size.area * (opened.frames if animated else 1)
        render_ms = limits.render_reserve_ms(decoded_pixels)
        hint: RegionHint | None = None
        if request.crop is CropMode.SMART_RATIO:
            # Counts the time already spent; keeps at least a second for the render.
            budget = deadline.analysis_budget_ms(self.settings.analysis_time_budget_ms, render_ms)
            hint = self.regions.region_for(source, opened.size, budget)

        region = hint.box if hint else None
        if hint is not None and hint.place is not None and request.width and request.height:
            # The analysis's own placement for this ratio: plan_thumbnail's
            # window of the same size centred on it is exactly this box.
            region = hint.place(request.width / request.height)
        plan = plan_thumbnail(opened.size, request.width, request.height, request.crop, request.pad, region)
        crop = plan.crop if request.crop is not CropMode.NONE else None
        left = deadline.left_ms()
        format_fell_back = False
        if fmt == "AVIF" and not avif_fits(plan.canvas.area, None if left is None else int(left - render_ms)):
            # AVIF would not be encoded in time: the next format the client takes, said in a header.
            fmt = negotiation.choose(
                set(accepted) - {"AVIF"},
                render.format_switches(self.settings),
                alpha=render.keeps_alpha(opened, request.pad_color),
            )
            headers.append((FORMAT_FALLBACK_HEADER, f"AVIF over the time budget; {fmt} instead"))
            format_fell_back = True

        etag = make_etag(source.etag, request, fmt, hint)
        region_fell_back = hint is not None and hint.origin == "fallback"
        temporary = region_fell_back or format_fell_back
        cache_control = self.settings.fallback_cache_control if temporary else self.settings.cache_control
        content_type = render.CONTENT_TYPES[fmt]
        vary = render.format_switches(self.settings).varies

        def answer(body: bytes | None, *extra: tuple[str, str], location: str | None = None) -> Thumbnail:
            return Thumbnail(
                body, content_type, etag, cache_control, hint and hint.origin, vary, (*headers, *extra), location, crop
            )

        if etag_matches(if_none_match, etag):
            return answer(None)

        # A temporary answer (a fallback) is not stored, as it is not cached for long.
        store = self.store if not temporary else None
        key = None
        if store is not None and not force_format:
            key = render_key(
                store.prefix, request.id, store_digest(self.settings, source.etag, request, accepted, hint)
            )
            if hint is not None:  # c=7: looked up now that the region is known
                stored = store.get(key)
                if stored is not None:
                    if len(stored.body) > self.settings.max_inline_bytes:
                        return answer(None, (STORE_HEADER, "hit"), location=store.location(key))
                    return answer(stored.body, (STORE_HEADER, "hit"))

        limits.check_plan(plan, self.settings)  # a derived side can exceed MAX_DIMENSION: 413
        deadline.require(render_ms)  # decode + resize estimated from the source pixels: 503
        qlt = request.quality or self.settings.default_quality
        # With a store, a body over what a response carries is served from there (a redirect).
        cap = self.settings.max_output_bytes if store is not None else self.settings.output_cap
        if animated:
            body = animation.render_animation(
                opened.image, plan, request.pad_color, fmt, output_quality(fmt, qlt), cap
            ).body
        else:
            image = render.execute(opened, plan, request.pad_color, deadline)  # checked between steps too
            body = render.encode(image, fmt, qlt, opened.icc_profile, cap, deadline=deadline)

        if store is None or key is None:
            return answer(body)
        saved = store.put(key, body, content_type, cache_control, meta_of(headers, crop))
        if len(body) > self.settings.max_inline_bytes:
            if not saved:
                raise SourceUnavailable("the render store is unavailable for a large thumbnail; try again")
            return answer(None, (STORE_HEADER, "stored"), location=store.location(key))
        return answer(body, (STORE_HEADER, "stored" if saved else "failed"))

"""Orchestration of one ``/th`` request: source → header → plan → pixels.

No HTTP here: the handler turns a :class:`Thumbnail` or a ``ThumbError``
into a response. The order is chosen so the cheap steps run first: the ETag
is made of inputs known without the pixels (the source's version from a
HEAD, the normalised request, the accepted formats and, for ``c=7``, the
sidecar's digest or that there is none), so a matching ``If-None-Match`` is
answered before the source is downloaded or a model runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from smartthumb import __version__, animation, limits, negotiation, render, structure
from smartthumb.config import Settings
from smartthumb.errors import SourceUnavailable
from smartthumb.geometry import Box, CropMode, plan_thumbnail
from smartthumb.quality import avif_fits, output_quality
from smartthumb.regions import NoRegionProvider, RegionHint, RegionProvider
from smartthumb.render_store import RenderStore, render_key
from smartthumb.request import ThumbRequest
from smartthumb.sources import ImageSource, SourceVersion

#: Response headers saying how the answer was made (besides X-Smartthumb-Region).
ANIMATION_HEADER = "X-Smartthumb-Animation"
FORMAT_FALLBACK_HEADER = "X-Smartthumb-Format-Fallback"
STORE_HEADER = "X-Smartthumb-Store"

#: Bumped when a change alters output pixels, so cached ETags turn over.
RENDER_VERSION = f"{__version__}.2"


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


def _output_parts(settings: Settings, source_etag: str, request: ThumbRequest, accepted: Collection[str]) -> list[str]:
    """Everything known before the source is read that decides the output: the source version, the
    normalised parameters, the switched-on modern formats the client takes (what ``Vary: Accept``
    varies on) and the settings that change pixels."""
    switches = render.format_switches(settings)
    modern = [fmt for fmt in negotiation.MODERN if fmt in accepted and switches.enabled(fmt)]
    return [
        RENDER_VERSION,
        source_etag,
        request.id,
        request.cache_key(),
        ",".join(modern),
        str(settings.default_quality),
        # What keeps an animation animated: its frames, frames x pixels, every frame's decode CPU
        # and the memory the output frames are held in.
        f"{settings.max_animation_frames}x{settings.max_animation_pixels}x{settings.max_decode_cpu_ms}"
        f"x{structure.decode_budget(settings)}",
    ]


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def make_etag(
    settings: Settings,
    source_etag: str,
    request: ThumbRequest,
    accepted: Collection[str],
    region_version: str,
    *,
    force_format: str | None = None,
    temporary: bool = False,
) -> str:
    """Strong ETag from inputs known without pixels (so a 304 is decided from a HEAD and the sidecar).

    ``region_version`` is ``c=7``'s (:meth:`~smartthumb.regions.VersionedRegions.region_version`: a
    sidecar's digest, or that none exists), "" otherwise. The output format is not an input: it
    follows from the source and the accepted formats. A ``temporary`` answer (a blind-ratio or
    format fallback) gets an ETag the HEAD-time check never computes, so it is not revalidated
    before decoding, and a later smart crop never matches it.
    """
    parts = _output_parts(settings, source_etag, request, accepted)
    parts += [region_version, force_format.upper() if force_format else ""]
    if temporary:
        parts.append("temporary")
    return f'"{_digest(parts)}"'


def store_digest(
    settings: Settings,
    source_etag: str,
    request: ThumbRequest,
    accepted: Collection[str],
    region: RegionHint | None,
) -> str:
    """The render store's key digest (see :mod:`smartthumb.render_store`): everything that decides the
    output, the region aside known before the source is read."""
    parts = _output_parts(settings, source_etag, request, accepted)
    if region is not None:
        parts.append(repr(region.box))
    return _digest(parts)


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
        self.animation_budget = animation.AnimationBudget(
            settings.max_animation_frames,
            settings.max_animation_pixels,
            settings.max_decode_cpu_ms,
            structure.decode_budget(settings),
        )

    def _head(self, image_id: str) -> SourceVersion | None:
        """The source's current version from a HEAD (a ``stat`` locally), or None for a source
        that can only say it by reading (``smartthumb render``'s one file)."""
        head = getattr(self.source, "head", None)
        return None if head is None else head(image_id)

    def _not_modified(
        self, request: ThumbRequest, accepted: Collection[str], if_none_match: str, version: SourceVersion
    ) -> Thumbnail | None:
        """A 304 decided from the source's version and, for ``c=7``, the sidecar: no download, no model."""
        region = ""
        if request.crop is CropMode.SMART_RATIO:
            region_version = getattr(self.regions, "region_version", None)
            found = None if region_version is None else region_version(version.key, version.etag)
            if found is None:  # the answer will be a fallback (or cannot be known): decided after decoding
                return None
            region = found
        etag = make_etag(self.settings, version.etag, request, accepted, region)
        if not etag_matches(if_none_match, etag):
            return None
        vary = render.format_switches(self.settings).varies
        return Thumbnail(None, "", etag, self.settings.cache_control, None, vary)

    def _from_store(self, request: ThumbRequest, accepted: Collection[str], version: SourceVersion) -> Thumbnail | None:
        """A stored render found with the source's ETag alone (no download, no decode), or None."""
        if self.store is None:
            return None
        digest = store_digest(self.settings, version.etag, request, accepted, None)
        key = render_key(self.store.prefix, request.id, digest)
        stored = self.store.get(key)
        if stored is None or stored.content_type not in render.CONTENT_TYPES.values():
            return None
        etag = make_etag(self.settings, version.etag, request, accepted, "")  # what rendering it would answer
        vary = render.format_switches(self.settings).varies
        headers, crop = headers_from_meta(stored.meta)  # what rendering it answered
        headers = (*headers, (STORE_HEADER, "hit"))
        cache_control = self.settings.cache_control
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
        # The source's version (a HEAD) decides a 304 and finds a stored render, before any download.
        wanted = force_format is None and (bool(if_none_match) or self.store is not None)
        version = self._head(request.id) if wanted else None
        if version is not None and if_none_match:
            not_modified = self._not_modified(request, accepted, if_none_match, version)
            if not_modified is not None:
                return not_modified
        if version is not None and request.crop is not CropMode.SMART_RATIO:
            served = self._from_store(request, accepted, version)
            if served is not None:
                return served
        source = self.source.get(request.id)
        opened = render.open_image(source.data, self.settings)
        if force_format is not None and force_format.upper() not in render.CONTENT_TYPES:
            raise ValueError(f"unsupported output format {force_format!r}")
        headers: list[tuple[str, str]] = []
        verdict = None
        if opened.format in render.ANIMATED_FORMATS:
            facts, size_bytes = opened.facts, len(source.data)
            every_frame_ms = structure.animation_cpu_ms(facts, opened.frames, size_bytes) if facts else 0
            # The canvas does not depend on where the crop goes, so no region is needed for it.
            canvas = plan_thumbnail(opened.size, request.width, request.height, request.crop, request.pad).canvas
            verdict = animation.keep_animated(
                opened.frames, opened.size, self.animation_budget, every_frame_ms, output=canvas
            )
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

        region_fell_back = hint is not None and hint.origin == "fallback"
        temporary = region_fell_back or format_fell_back
        # The same ETag the HEAD-time check computes (a region provider without versions: its box).
        region_version = "" if hint is None else hint.version or repr(hint.box)
        etag = make_etag(
            self.settings,
            source.etag,
            request,
            accepted,
            region_version,
            force_format=force_format,
            temporary=temporary,
        )
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

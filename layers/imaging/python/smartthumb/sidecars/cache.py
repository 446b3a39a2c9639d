"""One :class:`AnalysisCache` per process: sidecar lookups, on-demand analysis, write-back.

This module never imports numpy or onnxruntime at import time: the ``c=7``
path that reads a sidecar stays light; the analyzer loads on the first miss.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from smartthumb import placement, structure
from smartthumb.aws import S3Failure, object_has_etag, s3_client
from smartthumb.config import Settings
from smartthumb.errors import SourceUnavailable, ThumbError
from smartthumb.focus import EMBEDDED, MANUAL, decided_region, face_boxes, pinned_faces, stored_boxes
from smartthumb.geometry import Box, Size, ratio_box_size, scale_box
from smartthumb.regions import RegionHint
from smartthumb.sidecars.document import ANALYZER_VERSION, AnalyzeFn, Sidecar, build_sidecar
from smartthumb.sidecars.ordering import Decision, SidecarStore, undo_if_orphaned, write_guarded
from smartthumb.sources import SourceObject

log = logging.getLogger("smartthumb.sidecars")

#: Sidecars a warm ThumbnailFunction keeps in memory (a few KB each).
MEMO_ENTRIES = 256
#: How long a remembered sidecar is trusted: a manual region set through
#: another container (PUT /analysis, smartthumb focus) is seen after this.
MEMO_TTL_S = 30.0
#: The region version when no current sidecar exists: the models (deterministic) will decide it.
NO_SIDECAR = f"computed:{ANALYZER_VERSION}"
#: Sidecar fields that do not change the region (left out of its version, so a re-run does not churn ETags).
_UNVERSIONED = ("createdAt", "sequencer", "trigger")


def sidecar_version(sidecar: Sidecar) -> str:
    """A digest of what in ``sidecar`` can decide a crop (its analysis, a manual region, its status)."""
    doc = {k: v for k, v in sidecar.to_json().items() if k not in _UNVERSIONED}
    blob = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return "sidecar:" + hashlib.sha256(blob).hexdigest()[:24]


class AnalysisCache:
    """The one place analysis results are looked up, computed and kept.

    Built once per process with the analyzer it runs; serves ``c=7`` regions
    (it is a :class:`~smartthumb.regions.RegionProvider`), ``GET /analysis``,
    Azure ``{"url"}`` and image bodies, the preview page and ``smartthumb
    render`` alike. Sidecars come from the store; missing or stale ones are
    computed on the fly and written back.

    The computation runs on a worker thread and the request waits at most the
    time budget for it. If it is late the thumbnail falls back to blind ratio
    (``fallback``), and the analysis still finishes and writes the sidecar,
    so the next request for that image gets a smart crop. One computation per
    image version is in flight at a time.
    """

    def __init__(
        self,
        settings: Settings,
        store: SidecarStore,
        analyze: AnalyzeFn | None = None,
        *,
        bucket: str | None = None,
        on_metric: Callable[[str, float], None] | None = None,
        still_current: Callable[[SourceObject], bool] | None = None,
        client: Any | None = None,
    ) -> None:
        self.settings = settings
        self._client = client
        self.still_current = still_current or self._source_still_current
        self.store = store
        self._analyze = analyze
        self.bucket = settings.source_bucket if bucket is None else bucket
        self.on_metric = on_metric
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight: dict[tuple[str, str], concurrent.futures.Future[Sidecar]] = {}
        self._lock = threading.RLock()  # a done callback may run inside compute()
        self.analysis_calls = 0
        #: (key, ETag) -> (when, sidecar, its region version: NO_SIDECAR for one computed here).
        self._memo: OrderedDict[tuple[str, str], tuple[float, Sidecar, str]] = OrderedDict()
        self.clock: Callable[[], float] = time.monotonic  # the memo's clock (tests move it)

    @property
    def analyze(self) -> AnalyzeFn:
        """The analyzer given, or :func:`smartthumb.analysis.analyzer.analyze_image`
        (imported on first use: numpy and onnxruntime load only when needed)."""
        if self._analyze is None:
            from smartthumb.analysis.analyzer import analyze_image

            self._analyze = analyze_image
        return self._analyze

    def analyse_bytes(self, data: bytes, ratios: Sequence[float] | None) -> Any:
        """Analyse image bytes now (not stored): the Analysis with crops for ``ratios``
        (the automatic crop for none); raises :class:`ThumbError` on bad bytes."""
        self.analysis_calls += 1
        return self.analyze(data, list(ratios) if ratios else None, self.settings)

    def _metric(self, name: str) -> None:
        if self.on_metric is not None:
            self.on_metric(name, 1)

    def _source_still_current(self, source: SourceObject) -> bool:
        """Is ``source`` still the stored version? (A local store has one writer: yes.)"""
        if not self.bucket:
            return True
        if self._client is None:
            self._client = s3_client()
        try:
            return object_has_etag(self._client, self.bucket, source.key, source.etag)
        except S3Failure as exc:
            raise SourceUnavailable("the source store is unavailable") from exc

    def current(self, source: SourceObject) -> Sidecar | None:
        """The stored sidecar for this version of ``source``, or ``None``.

        A warm container remembers recent sidecars per (key, ETag): a sidecar
        describes one object version, so a remembered one stays right for it.
        """
        return self._lookup(source.key, source.etag)[0]

    def _lookup(self, key: str, etag: str) -> tuple[Sidecar | None, str]:
        """The current sidecar of version ``etag`` of ``key`` (or None) and its region version.

        One computed here (remembered, maybe not stored) keeps :data:`NO_SIDECAR`, the version
        its answer was given under, until the memo lets it go and the stored one is read.
        """
        memo_key = (key, etag)
        with self._lock:
            hit = self._memo.get(memo_key)
            if hit is not None and self.clock() - hit[0] < MEMO_TTL_S:
                self._memo.move_to_end(memo_key)
                return hit[1], hit[2]
        try:
            sidecar, _ = self.store.read(key)
        except ThumbError as exc:
            log.warning("sidecar read failed (%s): computing instead", exc.code)
            return None, NO_SIDECAR
        if sidecar is not None and sidecar.etag == etag:
            version = sidecar_version(sidecar)
            self._remember(sidecar, version)
            return sidecar, version
        return None, NO_SIDECAR

    def region_version(self, key: str, etag: str) -> str | None:
        """What will decide ``c=7``'s region for this version, from the sidecar alone (no source read,
        no model): its digest, :data:`NO_SIDECAR`, or ``None`` for an error sidecar (a fallback)."""
        sidecar, version = self._lookup(key, etag)
        if sidecar is not None and not sidecar.ok:
            return None
        return version

    def _remember(self, sidecar: Sidecar, version: str) -> None:
        with self._lock:
            self._memo[(sidecar.key, sidecar.etag)] = (self.clock(), sidecar, version)
            self._memo.move_to_end((sidecar.key, sidecar.etag))
            while len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)

    def forget(self, source: SourceObject) -> None:
        """Drop what is remembered of ``source`` (its sidecar was just changed here)."""
        with self._lock:
            self._memo.pop((source.key, source.etag), None)

    def region_for(self, source: SourceObject, size: Size, budget_ms: int) -> RegionHint:
        sidecar, version = self._lookup(source.key, source.etag)
        if sidecar is None:
            self._metric("SidecarMiss")
            if not self._analysis_and_render_fit(source):
                log.info("smart crop: analysis + render over MAX_DECODE_CPU_MS, blind ratio (no sidecar yet)")
                self._metric("AnalysisOverCpuBudget")
                return RegionHint(None, "fallback")
            sidecar = self.compute(source, budget_ms)
            if sidecar is None:
                return RegionHint(None, "fallback")
            origin, version = "computed", NO_SIDECAR
        else:
            self._metric("SidecarHit")
            origin = "sidecar"
        if not sidecar.ok:
            return RegionHint(None, "fallback")
        decided = decided_region(sidecar)
        if decided.box is None:
            # Analysed, nothing found: the analysis's rule centres the box (the
            # Azure answer does), where a blind ratio would keep the top.
            return RegionHint(None, origin, version, lambda ratio: placement.place_ratio(size, ratio, (), None, None))
        if decided.origin in (MANUAL, EMBEDDED):
            origin = decided.origin  # X-Smartthumb-Region says who decided
        frm = Size(sidecar.width, sidecar.height) if sidecar.width and sidecar.height else size
        roi = scale_box(decided.box, frm, size)
        # Every origin places by the analysis's own rule: a manual or embedded
        # region by the pinned-region rule, faces and saliency by best_box's.
        place = _placer(sidecar, frm, size, roi, decided.origin in (MANUAL, EMBEDDED))
        return RegionHint(roi, origin, version, place)

    def _analysis_and_render_fit(self, source: SourceObject) -> bool:
        """Whether two decodes of ``source`` (the analysis's, then the render's) fit the decode CPU
        budget: ``c=7`` without a sidecar decodes twice, each under the budget on its own, so a
        48 Mpx progressive 4:4:4 photo took 2.1 s of CPU with the models. Over it, blind ratio
        now; the upload's analysis (or ``GET /analysis``: one decode) writes the sidecar."""
        budget = self.settings.max_decode_cpu_ms
        if budget <= 0:
            return True
        try:
            facts = structure.scan(source.data, self.settings.max_animation_frames)
        except ThumbError:
            return True  # the decode refuses it, with its own 4xx
        return 2 * structure.decode_cpu_ms(facts, len(source.data)) <= budget

    def compute(self, source: SourceObject, budget_ms: int) -> Sidecar | None:
        """Analyse ``source`` now, waiting at most ``budget_ms``; the sidecar or ``None``."""
        if budget_ms <= 0:
            return None
        key = (source.key, source.etag)
        with self._lock:
            future = self._inflight.get(key)
            if future is None:
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="smartthumb-analysis")
                future = self._pool.submit(self._analyse_and_store, source)
                self._inflight[key] = future
                future.add_done_callback(lambda _f, k=key: self._forget(k))
        try:
            return future.result(timeout=budget_ms / 1000)
        except concurrent.futures.TimeoutError:
            log.warning("smart crop: analysis not done within %d ms, blind ratio (it continues)", budget_ms)
            self._metric("AnalysisOverBudget")
            return None
        except ThumbError as exc:
            log.info("smart crop: analysis refused (%s): blind ratio", exc.code)
            return None
        except Exception:
            log.exception("smart crop: analysis failed: blind ratio")
            return None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every analysis in flight has finished (and written back);
        ``False`` if some are still running after ``timeout`` seconds."""
        with self._lock:
            running = list(self._inflight.values())
        _, not_done = concurrent.futures.wait(running, timeout=timeout)
        return not not_done

    def _forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    def _analyse_and_store(self, source: SourceObject) -> Sidecar:
        """Runs on the worker: analyse (one pass: configured ratios + automatic) and write back."""
        started = time.perf_counter()
        current, token = None, None
        with contextlib.suppress(ThumbError):
            current, token = self.store.read(source.key)
        sidecar = build_sidecar(
            self.analyze,
            self.settings,
            bucket=self.bucket,
            key=source.key,
            etag=source.etag,
            data=source.data,
            trigger="OnDemand",
        )
        self.analysis_calls += 1
        self._remember(sidecar, NO_SIDECAR)
        try:
            result = write_guarded(
                self.store, sidecar, current=current, token=token, still_current=lambda: self.still_current(source)
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("sidecar %s for %r after %.0f ms", result.decision.value, source.key, elapsed_ms)
            if result.decision is Decision.WRITE and undo_if_orphaned(
                self.store, sidecar, lambda: self.still_current(source)
            ):
                log.info("sidecar of %r removed again: the source was deleted meanwhile", source.key)
                self._metric("SidecarOrphanRemoved")
        except (ThumbError, OSError) as exc:
            log.warning("sidecar write-back failed (%s); the region is still used", exc)
        return sidecar


def _placer(sidecar: Sidecar, frm: Size, size: Size, roi: Box, pinned: bool) -> Callable[[float], Box]:
    """The analysis's placement rule for any ratio, from what the sidecar keeps (pure Python, no models).

    A sidecar written before the importance profile existed
    (:attr:`Sidecar.lacks_profile`) with a salient region and no faces cannot
    re-run that rule: it answers its own stored Azure box for a ratio it
    precomputed (so ``c=7`` still crops that box) and otherwise places the
    region by the pinned-region rule (whole and centred when it fits, else its
    top or middle). A backfill re-analyses such sidecars.
    """
    analysis = sidecar.analysis or {}
    importance = analysis.get("importance")
    if pinned:
        inside = [scale_box(f, frm, size) for f in pinned_faces(sidecar)]
        return lambda ratio: placement.place_ratio(size, ratio, inside, None, roi, roi)
    faces = [scale_box(f, frm, size) for f in face_boxes(sidecar)]
    if faces or importance:
        return lambda ratio: placement.place_ratio(size, ratio, faces, importance, roi)
    stored = [scale_box(b, frm, size) for b in stored_boxes(sidecar)]

    def legacy(ratio: float) -> Box:
        window = ratio_box_size(size, ratio)
        for b in stored:
            if abs(b.w - window.width) <= 1 and abs(b.h - window.height) <= 1:
                x = min(max(b.x, 0), size.width - window.width)
                y = min(max(b.y, 0), size.height - window.height)
                return Box(x, y, window.width, window.height)
        return placement.pinned_window(size, window, roi, ())

    return legacy

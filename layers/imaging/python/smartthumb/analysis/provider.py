"""The ONNX analysis behind :class:`smartthumb.regions.RegionProvider` (``c=7``).

Time budget: inference cannot be interrupted, so the budget is checked
*before* starting: when the expected cost (a running estimate of recent
analyses, plus the model load on a cold process) exceeds ``budget_ms`` the
provider answers ``fallback`` at once. An analysis that started and ran over
is still used (its cost is already paid) and logged.

Results are memoised per ``(key, etag)`` in a small LRU, so the several
thumbnail sizes of one image requested together analyse it once.

Importing this module is cheap (no numpy, Pillow or onnxruntime): the
thumbnail handler can construct the provider at start and only ``c=7``
requests pay for the analysis imports.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from smartthumb.analysis import models
from smartthumb.config import Settings
from smartthumb.errors import ThumbError
from smartthumb.geometry import Size, scale_box
from smartthumb.regions import RegionHint
from smartthumb.sources import SourceObject

if TYPE_CHECKING:
    from smartthumb.analysis.analyzer import Analysis

log = logging.getLogger(__name__)

#: Expected cost before anything was measured: one U²-Net-p run plus decode,
#: and the sessions' creation and first, slower run when cold.
INITIAL_ESTIMATE_MS = 400.0
COLD_EXTRA_MS = 250.0
CACHE_ENTRIES = 64


def analyze_image(data: bytes, ratios: Sequence[float] | None, settings: Settings) -> Analysis:
    """:func:`smartthumb.analysis.analyzer.analyze_image`, imported on first use."""
    from smartthumb.analysis.analyzer import analyze_image as analyze

    return analyze(data, ratios, settings)


class OnnxRegionProvider:
    """Region of interest from face detection and saliency, computed on demand."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._estimate_ms = INITIAL_ESTIMATE_MS
        self._cache: OrderedDict[tuple[str, str], Analysis] = OrderedDict()
        self._lock = threading.Lock()
        self.last_elapsed_ms: float | None = None

    def expected_ms(self) -> float:
        cold = not models.load_times
        return self._estimate_ms + (COLD_EXTRA_MS if cold else 0.0)

    def analysis_for(self, source: SourceObject) -> Analysis:
        """The (memoised) analysis of ``source``; raises on trouble."""
        key = (source.key, source.etag)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        started = time.perf_counter()
        analysis = analyze_image(source.data, None, self.settings)
        elapsed_ms = (time.perf_counter() - started) * 1000
        with self._lock:
            # Exponential moving average of warm runs.
            self._estimate_ms = 0.7 * self._estimate_ms + 0.3 * elapsed_ms
            self._cache[key] = analysis
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        self.last_elapsed_ms = elapsed_ms
        return analysis

    def region_for(self, source: SourceObject, size: Size, budget_ms: int) -> RegionHint:
        key = (source.key, source.etag)
        if key not in self._cache and self.expected_ms() > budget_ms:
            expected = self.expected_ms()
            log.warning("smart crop: expected %.0f ms over the %d ms budget, blind ratio", expected, budget_ms)
            return RegionHint(None, "fallback")
        started = time.perf_counter()
        try:
            analysis = self.analysis_for(source)
        except ThumbError as exc:
            if exc.status < 500:
                # Bad image bytes: the renderer will report it properly.
                log.info("smart crop: analysis refused the image (%s)", exc.code)
            else:
                log.error("smart crop: analysis unavailable (%s)", exc.code)
            return RegionHint(None, "fallback")
        except Exception:
            log.exception("smart crop: analysis failed")
            return RegionHint(None, "fallback")
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms > budget_ms:
            log.warning("smart crop: analysis took %.0f ms, budget %d ms (result used)", elapsed_ms, budget_ms)
        if analysis.roi is None:
            return RegionHint(None, "none")
        return RegionHint(scale_box(analysis.roi, Size(analysis.width, analysis.height), size), "computed")

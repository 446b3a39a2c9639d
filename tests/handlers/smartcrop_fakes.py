"""A stand-in for ``analyze_image`` where the model is not the point of a test."""

from __future__ import annotations

from smartthumb.analysis.analyzer import Analysis
from smartthumb.geometry import Box, smart_crop


class FakeAnalyzer:
    """``analyze_image``'s signature. It validates the bytes as the real one does
    (415/413 through ``render.open_image``), puts the region of interest in the
    ``roi`` fraction of the image, and counts its calls."""

    def __init__(self, roi: tuple[float, float, float, float] = (0.25, 0.25, 0.5, 0.5)) -> None:
        self.roi = roi
        self.calls: list[list[float] | None] = []

    def __call__(self, data, ratios, settings):
        from smartthumb.render import open_image

        opened = open_image(data, settings)
        self.calls.append(list(ratios) if ratios else None)
        size = opened.size
        fx, fy, fw, fh = self.roi
        w, h = max(1, int(size.width * fw)), max(1, int(size.height * fh))
        roi = Box(int(size.width * fx), int(size.height * fy), w, h)
        wanted = list(ratios) if ratios else [round(roi.w / roi.h, 2)]
        crops = tuple((r, smart_crop(size, r, roi)) for r in wanted)
        return Analysis(width=size.width, height=size.height, faces=(), roi=roi, crops=crops, model_version="fake-1")


def with_analyzer(fn, analyze):
    """The loaded ThumbnailFunction module ``fn``, its app rebuilt the way the module
    builds it but with ``analyze`` injected into the one ``AnalysisCache``."""
    from aws_lambda_powertools.metrics import MetricUnit

    from smartthumb.app_factory import build_analysis_cache, build_thumbnail_app

    def on_metric(name: str, value: float) -> None:
        fn.metrics.add_metric(name, MetricUnit.Count, value)

    fn.cache = build_analysis_cache(fn.settings, analyze=analyze, on_metric=on_metric)
    fn.app = build_thumbnail_app(fn.settings, cache=fn.cache, on_metric=on_metric)
    return fn


def with_ingest_analyzer(fn, analyze):
    """The loaded AnalyzeFunction module ``fn``, its ingestor rebuilt the way the
    module builds it but with ``analyze`` injected through the constructor."""
    from aws_lambda_powertools.metrics import MetricUnit

    from smartthumb.ingest import build_ingestor

    def on_metric(name: str, value: float) -> None:
        fn.metrics.add_metric(name, MetricUnit.Count, value)

    fn.ingestor = build_ingestor(fn.settings, analyze=analyze, on_metric=on_metric)
    return fn

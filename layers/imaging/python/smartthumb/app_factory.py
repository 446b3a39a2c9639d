"""Wiring: settings → source, region provider, service, HTTP app.

Shared by the Lambda handler and the local server so both run the same
objects. Nothing here imports numpy or onnxruntime: the analysis is loaded on
the first smart-ratio request that needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from smartthumb.config import Settings
from smartthumb.geometry import Size
from smartthumb.http_api import build_app
from smartthumb.regions import RegionHint, RegionProvider
from smartthumb.render_store import render_store_from_settings
from smartthumb.service import ThumbnailService
from smartthumb.sources import ImageSource, SourceObject, source_from_settings

log = logging.getLogger("smartthumb")


class LazyAnalysisProvider:
    """Defers importing the ONNX analysis until a ``c=7`` request needs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._provider: RegionProvider | None = None
        self._failed = False

    def region_for(self, source: SourceObject, size: Size, budget_ms: int) -> RegionHint:
        if self._provider is None and not self._failed:
            try:
                from smartthumb.analysis.provider import OnnxRegionProvider

                self._provider = OnnxRegionProvider(self.settings)
            except Exception:  # a missing model must not break thumbnails
                log.exception("smart-crop analysis unavailable; falling back to blind ratio")
                self._failed = True
        if self._provider is None:
            return RegionHint(None, "fallback")
        return self._provider.region_for(source, size, budget_ms)


def build_region_provider(settings: Settings, client: Any | None = None) -> RegionProvider:
    return LazyAnalysisProvider(settings)


def build_thumbnail_app(
    settings: Settings,
    *,
    source: ImageSource | None = None,
    regions: RegionProvider | None = None,
    s3_client: Any | None = None,
    on_metric: Callable[[str, float], None] | None = None,
) -> APIGatewayHttpResolver:
    from smartthumb.azure_api import register_azure_routes
    from smartthumb.sidecars import SidecarRegionProvider, store_from_settings

    source = source or source_from_settings(settings, client=s3_client)
    # c=7: the precomputed sidecar when current, else analysis on the fly (written back).
    store = store_from_settings(settings, s3_client)
    sidecars = SidecarRegionProvider(settings, store, on_metric=on_metric, client=s3_client)
    regions = regions or sidecars
    renders = render_store_from_settings(settings, client=s3_client)
    service = ThumbnailService(settings, source, regions, store=renders)
    app = build_app(settings, service, on_metric=on_metric)
    register_azure_routes(app, settings, source=source, sidecars=sidecars, on_metric=on_metric)
    return app

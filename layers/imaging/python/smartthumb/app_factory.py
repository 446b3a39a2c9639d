"""Wiring: settings → source, the one analysis cache, service, HTTP app.

Shared by the Lambda handler, the local server and ``smartthumb render``, so
all run the same objects. Nothing here imports numpy or onnxruntime: the
analysis is loaded on the first smart-ratio request that needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from smartthumb.config import Settings
from smartthumb.http_api import build_app
from smartthumb.service import ThumbnailService
from smartthumb.sidecars import AnalysisCache, AnalyzeFn, SidecarStore, store_from_settings
from smartthumb.sources import ImageSource, source_from_settings

Metric = Callable[[str, float], None]


def build_analysis_cache(
    settings: Settings,
    *,
    store: SidecarStore | None = None,
    analyze: AnalyzeFn | None = None,
    s3_client: Any | None = None,
    on_metric: Metric | None = None,
) -> AnalysisCache:
    """The process's one :class:`AnalysisCache` (sidecars from ``store_from_settings``
    unless a store is given; the real analyzer unless one is given)."""
    store = store if store is not None else store_from_settings(settings, s3_client)
    return AnalysisCache(settings, store, analyze, on_metric=on_metric, client=s3_client)


def build_thumbnail_app(
    settings: Settings,
    *,
    source: ImageSource | None = None,
    cache: AnalysisCache | None = None,
    analyze: AnalyzeFn | None = None,
    s3_client: Any | None = None,
    on_metric: Metric | None = None,
) -> APIGatewayHttpResolver:
    """``/th``, the Azure routes, ``GET``/``PUT /analysis``, all on one source and one cache."""
    from smartthumb.azure.routes import register_azure_routes

    source = source or source_from_settings(settings, client=s3_client)
    # c=7: the precomputed sidecar when current, else analysis on the fly (written back).
    cache = cache or build_analysis_cache(settings, analyze=analyze, s3_client=s3_client, on_metric=on_metric)
    service = ThumbnailService(settings, source, cache)
    app = build_app(settings, service, on_metric=on_metric)
    register_azure_routes(app, settings, source=source, cache=cache, on_metric=on_metric)
    from smartthumb.focus_routes import register_focus_routes
    from smartthumb.signing import verifier_from_settings

    register_focus_routes(app, settings, source=source, cache=cache, verifier=verifier_from_settings(settings))
    return app

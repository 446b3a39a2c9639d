"""ThumbnailFunction: Bing-style ``GET /th`` on an HTTP API (payload v2.0).

Thin by design: configuration and clients are built once per container, and
every request goes through :mod:`smartthumb.http_api`.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths

from smartthumb.app_factory import build_thumbnail_app
from smartthumb.config import Settings
from smartthumb.metrics import CountMetrics

logger = Logger(service="smartthumb-thumbnail")
# Pillow logs every EXIF tag it parses at DEBUG (GPS, names): never let image
# metadata into the logs, whatever level the function logs at.
logging.getLogger("PIL").setLevel(logging.INFO)
tracer = Tracer(service="smartthumb-thumbnail")
metrics = Metrics(namespace="smartthumb", service="smartthumb-thumbnail")

settings = Settings.from_env()
app = build_thumbnail_app(settings, on_metric=CountMetrics(metrics))


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: the event holds
# signatures, API keys and image bodies, none of which may reach the logs.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)

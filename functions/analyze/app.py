"""AnalyzeFunction: S3 ``ObjectCreated``/``ObjectRemoved`` events and S3 Batch
Operations tasks → analysis sidecars.

Thin by design: configuration is validated once per container (a looping
configuration fails the cold start), and every event goes to
:mod:`smartthumb.ingest` (Batch Operations: :mod:`smartthumb.batch`). S3 notification events return a small summary
(async invocations discard it) or raise on transient trouble so Lambda
retries and then sends the event to the dead-letter destination; Batch
Operations events get the per-task answer Batch Operations expects.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent, S3Event

from smartthumb.batch import is_batch_event, run_batch
from smartthumb.config import Settings
from smartthumb.ingest import build_ingestor, validate_for_ingest
from smartthumb.metrics import CountMetrics

logger = Logger(service="smartthumb-analyze")
# Pillow logs every EXIF tag it parses at DEBUG (GPS, names): never let image
# metadata into the logs, whatever level the function logs at.
logging.getLogger("PIL").setLevel(logging.INFO)
tracer = Tracer(service="smartthumb-analyze")
metrics = Metrics(namespace="smartthumb", service="smartthumb-analyze")

settings = Settings.from_env()
validate_for_ingest(settings)
ingestor = build_ingestor(settings, on_metric=CountMetrics(metrics))


def _preload_models() -> None:
    """Load and warm both ONNX sessions during init: every invocation analyses,
    and the first U²-Net-p run costs 0.1-0.6 s more than later ones. A missing
    or corrupt model is not fatal here: the invocation then fails with the
    reason, is retried, and lands in the dead-letter queue."""
    from smartthumb.analysis.models import ModelUnavailable, preload

    try:
        logger.info("models preloaded", extra={"seconds": round(preload(settings=settings), 3)})
    except ModelUnavailable as exc:
        logger.warning("models unavailable at init", extra={"reason": exc.message})


_preload_models()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if is_batch_event(event):
        batch = S3BatchOperationEvent(event)
        logger.append_keys(invocation_id=batch.invocation_id, schema=batch.invocation_schema_version)
        return run_batch(ingestor, batch.raw_event)
    records = list(S3Event(event).records) if event.get("Records") else []
    if not records:
        logger.info("no S3 records in the event (e.g. s3:TestEvent): nothing to do")
        return {"records": 0, "outcomes": []}
    results = ingestor.handle_records([record.raw_event for record in records])
    return {"records": len(results), "outcomes": [r.outcome.value for r in results]}

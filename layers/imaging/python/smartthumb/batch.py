"""S3 Batch Operations ``LambdaInvoke`` events → :class:`~smartthumb.ingest.Ingestor` backfills."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from smartthumb.errors import SourceUnavailable
from smartthumb.ingest import Ingestor, Outcome, decode_event_key

log = logging.getLogger("smartthumb.ingest")


BATCH_SCHEMAS = ("1.0", "2.0")


def is_batch_event(event: Mapping[str, Any]) -> bool:
    return isinstance(event, Mapping) and "invocationSchemaVersion" in event and "tasks" in event


def _task_bucket(task: Mapping[str, Any]) -> str:
    """Schema 1.0 names the bucket by ARN, 2.0 by name."""
    arn = task.get("s3BucketArn")
    if isinstance(arn, str) and arn:
        return arn.split(":::")[-1]
    return str(task.get("s3Bucket") or "")


def run_batch(ingestor: Ingestor, event: Mapping[str, Any]) -> dict[str, Any]:
    """Answer an S3 Batch Operations ``LambdaInvoke`` event, one result per task.

    ``Succeeded`` for analysed, up-to-date and skipped objects;
    ``PermanentFailure`` for missing keys, non-images and oversized objects
    (their reason goes to the job's completion report);
    ``TemporaryFailure`` for throttling and timeouts, which Batch Operations
    retries. The response echoes ``invocationSchemaVersion`` and
    ``invocationId``; ``treatMissingKeysAs`` covers tasks left unanswered.
    """
    schema = str(event.get("invocationSchemaVersion", ""))
    results: list[dict[str, Any]] = []
    for raw in event.get("tasks") or []:
        task = raw if isinstance(raw, Mapping) else {}
        task_id = str(task.get("taskId", ""))
        code, reason = _run_task(ingestor, task, schema)
        ingestor.metric(f"Batch{code}")
        results.append({"taskId": task_id, "resultCode": code, "resultString": reason[:1000]})
    return {
        "invocationSchemaVersion": schema,
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event.get("invocationId", ""),
        "results": results,
    }


def _run_task(ingestor: Ingestor, task: Mapping[str, Any], schema: str) -> tuple[str, str]:
    if schema not in BATCH_SCHEMAS:
        return "PermanentFailure", f"unsupported invocationSchemaVersion {schema!r}"
    bucket = _task_bucket(task)
    raw_key = task.get("s3Key")
    if not bucket or not isinstance(raw_key, str) or not raw_key:
        return "PermanentFailure", "task without a bucket or key"
    try:
        key = decode_event_key(raw_key)
    except UnicodeDecodeError:
        return "PermanentFailure", "the key is not valid URL-encoded UTF-8"
    try:
        result = ingestor.backfill(bucket, key)
    except SourceUnavailable as exc:
        log.warning("backfill of %r: transient failure: %s", key, exc.message)
        return "TemporaryFailure", f"{exc.code}: {exc.message}"
    except Exception as exc:  # one broken task must not fail the whole job invocation
        log.exception("backfill of %r failed", key)
        return "PermanentFailure", f"unexpected error: {type(exc).__name__}"
    if result.outcome in (Outcome.FAILED, Outcome.MISSING):
        return "PermanentFailure", result.reason
    if result.outcome is Outcome.IGNORED:
        return "PermanentFailure", f"not analysed: {result.reason}"
    return "Succeeded", result.reason

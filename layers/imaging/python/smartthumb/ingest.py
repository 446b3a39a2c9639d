"""S3 events and Batch Operations tasks → analysis → sidecars. No Lambda here.

The AnalyzeFunction handler parses nothing itself: it hands each S3 event
record (a plain mapping) or the whole Batch Operations event to this module.

Delivery rules this module keeps:

* Keys in S3 events are URL-encoded as form values (``+`` for a space,
  ``%xx`` for UTF-8 bytes): :func:`decode_event_key` undoes it. Powertools'
  ``S3EventRecord.s3.get_object.key`` does *not* (only ``S3Event.object_key``
  of the first record does), so records are decoded here.
* Own output is never analysed: a key under ``ANALYSIS_PREFIX`` of the
  analysis bucket is ignored, and :func:`validate_for_ingest` refuses at start
  a configuration whose sidecars would land under the watched prefix.
* At least once, any order: sidecars carry the event ``sequencer``; an older
  or repeated event changes nothing (see :mod:`smartthumb.sidecars`). The
  object is fetched with ``If-Match`` on the event's ETag, so a late event
  for a version that was since overwritten or deleted is dropped as
  superseded instead of analysing the newer bytes under the old order.
* Permanent failures (not an image, over the limits) become an error sidecar,
  a metric and a log line, and return normally: retrying cannot help.
  Transient failures (S3 throttling, timeouts, 5xx, model unavailable) raise
  :class:`~smartthumb.errors.SourceUnavailable` so Lambda retries and, after
  its retries, hands the event to the dead-letter destination.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

from smartthumb.aws import LazyS3Client
from smartthumb.config import ConfigError, Settings
from smartthumb.errors import SourceTooLarge, SourceUnavailable, ThumbError
from smartthumb.render_store import RenderStore, render_store_from_settings
from smartthumb.sidecars import (
    ANALYZER_VERSION,
    AnalyzeFn,
    ConditionFailed,
    Decision,
    Sidecar,
    SidecarStore,
    analyse_to_sidecar,
    decide_write,
    delete_guarded,
    head_matches,
    is_transient,
    sidecar_key,
    write_guarded,
)
from smartthumb.sources import SourceObject, read_bounded

log = logging.getLogger("smartthumb.ingest")

Metric = Callable[[str, float], None]


def decode_event_key(raw: str) -> str:
    """An S3 event key as stored: ``+`` is a space, ``%xx`` are UTF-8 bytes."""
    return unquote_plus(raw, encoding="utf-8", errors="strict")


def validate_for_ingest(settings: Settings) -> None:
    """Refuse, at cold start, a configuration that cannot work or would loop."""
    if not settings.analysis_bucket:
        raise ConfigError("ANALYSIS_BUCKET must be set for the AnalyzeFunction")
    if settings.source_bucket and settings.source_bucket == settings.analysis_bucket:
        if not settings.analysis_prefix:
            raise ConfigError("ANALYSIS_PREFIX must be set when sidecars share the source bucket")
        # Wherever a source key may be, its sidecar key must not be watched.
        probe = sidecar_key(settings.analysis_prefix, settings.source_prefix + "probe.jpg")
        if probe.startswith(settings.source_prefix) or settings.source_prefix.startswith(settings.analysis_prefix):
            raise ConfigError(
                "sidecars would be written under SOURCE_PREFIX of the source bucket: the trigger would loop"
            )


# -------------------------------------------------------------------- events


@dataclass(frozen=True)
class ObjectEvent:
    """One S3 event record, decoded."""

    kind: str  # "created", "removed" or "other"
    event_name: str
    bucket: str
    key: str
    etag: str | None = None
    size: int | None = None
    sequencer: str | None = None
    version_id: str | None = None


def parse_s3_record(record: Mapping[str, Any]) -> ObjectEvent:
    """Read one ``Records[]`` entry; raises ``ValueError`` if it is not an S3 record."""
    try:
        name = str(record["eventName"])
        s3 = record["s3"]
        bucket = str(s3["bucket"]["name"])
        obj = s3["object"]
        key = decode_event_key(str(obj["key"]))
    except (KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not an S3 event record: {exc}") from exc
    if name.startswith("ObjectCreated:"):
        kind = "created"
    elif name.startswith(("ObjectRemoved:", "LifecycleExpiration:")):
        kind = "removed"
    else:
        kind = "other"
    size = obj.get("size")
    return ObjectEvent(
        kind=kind,
        event_name=name,
        bucket=bucket,
        key=key,
        etag=str(obj["eTag"]).strip('"') if obj.get("eTag") else None,
        size=int(size) if isinstance(size, (int, str)) and str(size).isdigit() else None,
        sequencer=str(obj["sequencer"]) if obj.get("sequencer") else None,
        version_id=obj.get("versionId") or None,
    )


class Outcome(StrEnum):
    ANALYSED = "analysed"
    FAILED = "failed-permanently"  # recorded in an error sidecar
    DELETED = "deleted"
    STALE = "stale"
    DUPLICATE = "duplicate"
    UP_TO_DATE = "up-to-date"
    YIELDED = "yielded"
    SUPERSEDED = "superseded"
    IGNORED = "ignored"
    MISSING = "missing"


_FROM_DECISION = {
    Decision.STALE: Outcome.STALE,
    Decision.DUPLICATE: Outcome.DUPLICATE,
    Decision.UP_TO_DATE: Outcome.UP_TO_DATE,
    Decision.YIELD: Outcome.YIELDED,
}


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    key: str
    reason: str = ""
    sidecar: Sidecar | None = None


# -------------------------------------------------------------------- reading


class ObjectGone(Exception):
    """The object (or the version the event named) is no longer there."""


class S3ObjectReader(LazyS3Client):
    """Fetch source objects for analysis, bounded, optionally pinned to an ETag."""

    def __init__(self, max_bytes: int, client: Any | None = None) -> None:
        self.max_bytes = max_bytes
        self._client = client

    def is_current(self, bucket: str, key: str, etag: str) -> bool:
        return head_matches(self.client, bucket, key, etag)

    def fetch(self, bucket: str, key: str, etag: str | None = None) -> SourceObject:
        """Raise :class:`ObjectGone`, :class:`SourceTooLarge` or :class:`SourceUnavailable`."""
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs: dict[str, str] = {"Bucket": bucket, "Key": key}
        if etag:
            kwargs["IfMatch"] = f'"{etag}"'
        try:
            obj = self.client.get_object(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound", "PreconditionFailed", "412"):
                raise ObjectGone(code) from exc
            if is_transient(exc):
                raise SourceUnavailable("the source store is unavailable") from exc
            raise ObjectGone(code or "error") from exc
        except BotoCoreError as exc:
            raise SourceUnavailable("the source store is unavailable") from exc
        body = obj["Body"]
        try:
            if (obj.get("ContentLength") or 0) > self.max_bytes:
                raise SourceTooLarge(f"the source image is larger than {self.max_bytes} bytes")
            try:
                data = read_bounded(body, self.max_bytes)
            except BotoCoreError as exc:
                raise SourceUnavailable("reading the source object failed") from exc
        except SourceTooLarge as exc:
            # Which version was too large, for the error sidecar.
            exc.etag = str(obj.get("ETag", "")).strip('"')  # type: ignore[attr-defined]
            exc.size = obj.get("ContentLength")  # type: ignore[attr-defined]
            raise
        finally:
            body.close()
        return SourceObject(
            key=key, data=data, etag=str(obj.get("ETag", "")).strip('"'), content_type=obj.get("ContentType", "")
        )


# ------------------------------------------------------------------- ingestor


class Ingestor:
    """Apply S3 events and backfill tasks to the sidecar store."""

    def __init__(
        self,
        settings: Settings,
        store: SidecarStore,
        reader: S3ObjectReader,
        *,
        analyze: AnalyzeFn | None = None,
        on_metric: Metric | None = None,
        renders: RenderStore | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.reader = reader
        self.renders = renders
        if analyze is None:
            from smartthumb.sidecars import _default_analyze

            analyze = _default_analyze
        self.analyze = analyze
        self.on_metric = on_metric

    def metric(self, name: str, value: float = 1) -> None:
        if self.on_metric is not None:
            self.on_metric(name, value)

    def ignored_because(self, bucket: str, key: str) -> str | None:
        """Why ``bucket``/``key`` is not ours to analyse, or ``None``."""
        s = self.settings
        if bucket == s.analysis_bucket and key.startswith(s.analysis_prefix):
            return "own output (a sidecar)"
        if bucket == s.render_bucket and key.startswith(s.render_prefix):
            return "own output (a stored render)"
        if s.source_bucket and bucket != s.source_bucket:
            return "not the source bucket"
        if not key.startswith(s.source_prefix):
            return "outside SOURCE_PREFIX"
        if key.endswith("/"):
            return "a folder placeholder"
        return None

    # ---- S3 events

    def handle_records(self, records: Iterable[Mapping[str, Any]]) -> list[IngestResult]:
        """Every record is tried; a transient failure is raised after the others ran
        (they are idempotent, so Lambda's retry of the whole event is safe)."""
        results: list[IngestResult] = []
        failed: list[str] = []
        transient: SourceUnavailable | None = None
        for record in records:
            try:
                event = parse_s3_record(record)
            except ValueError as exc:
                log.warning("ignoring a record that is not an S3 object event: %s", exc)
                self.metric("RecordIgnored")
                results.append(IngestResult(Outcome.IGNORED, "", str(exc)))
                continue
            try:
                results.append(self.handle_event(event))
            except SourceUnavailable as exc:
                log.warning("transient failure for %r: %s (will be retried)", event.key, exc.message)
                self.metric("TransientFailure")
                transient = transient or exc
                failed.append(f"{event.event_name} {event.key!r}: {exc.message}")
        if transient is not None:
            # The message is what the dead-letter destination records: say what failed and why.
            raise SourceUnavailable(f"{len(failed)} record(s) failed transiently: " + "; ".join(failed)) from transient
        return results

    def handle_event(self, event: ObjectEvent) -> IngestResult:
        reason = self.ignored_because(event.bucket, event.key)
        if reason is None and event.kind == "other":
            reason = f"event {event.event_name} is neither a creation nor a removal"
        if reason is not None:
            log.info("ignored %s of %r: %s", event.event_name, event.key, reason)
            self.metric("EventIgnored")
            return IngestResult(Outcome.IGNORED, event.key, reason)
        self.forget_renders(event)
        if event.kind == "removed":
            return self.removed(event)
        return self.created(event)

    def forget_renders(self, event: ObjectEvent) -> None:
        """A deleted or overwritten source's stored thumbnails go. Their keys carry the
        old ETag, so they would never be served again anyway: a failure is only logged
        (the lifecycle rule expires what is left)."""
        if self.renders is None:
            return
        image_id = event.key[len(self.settings.source_prefix) :]
        try:
            removed = self.renders.delete_renders(image_id)
        except Exception as exc:  # boto3/OS errors: the renders are unreachable anyway
            log.warning("could not delete the renders of %r: %s", event.key, exc)
            self.metric("RenderDeleteFailed")
            return
        if removed:
            log.info("%d stored render(s) of %r deleted (%s)", removed, event.key, event.event_name)
            self.metric("RendersDeleted", removed)

    def created(self, event: ObjectEvent) -> IngestResult:
        current, token = self.store.read(event.key)
        decision = decide_write(current, event.etag or "", event.sequencer, ANALYZER_VERSION)
        if decision is Decision.UP_TO_DATE and current is not None and current.sequencer is None and event.sequencer:
            # Written by a backfill or on demand: record the event order without re-analysing.
            with contextlib.suppress(ConditionFailed):
                self.store.write(event.key, replace(current, sequencer=event.sequencer), token)
        if decision is not Decision.WRITE:
            return self._skipped(event.key, decision)

        common = {"bucket": event.bucket, "key": event.key, "sequencer": event.sequencer}
        if event.size is not None and event.size > self.settings.max_source_bytes:
            error = SourceTooLarge(f"the source image is larger than {self.settings.max_source_bytes} bytes")
            sidecar = Sidecar.from_error(
                etag=event.etag or "", size=event.size, error=error, trigger=event.event_name, **common
            )
        else:
            try:
                obj = self.reader.fetch(event.bucket, event.key, event.etag)
            except ObjectGone as exc:
                log.info("superseded: %r changed or went away since %s (%s)", event.key, event.event_name, exc)
                self.metric("EventSuperseded")
                return IngestResult(Outcome.SUPERSEDED, event.key, "the object changed or was deleted since")
            except SourceTooLarge as exc:
                sidecar = Sidecar.from_error(
                    etag=event.etag or "", size=event.size, error=exc, trigger=event.event_name, **common
                )
            else:
                sidecar = self._analyse(obj, event.bucket, event.event_name, event.sequencer, event.version_id)
        return self._store(sidecar, current, token)

    def removed(self, event: ObjectEvent) -> IngestResult:
        decision = delete_guarded(self.store, event.key, event.sequencer)
        if decision is Decision.WRITE:
            log.info("sidecar of %r deleted (%s)", event.key, event.event_name)
            self.metric("SidecarDeleted")
            return IngestResult(Outcome.DELETED, event.key, "sidecar deleted")
        if decision is Decision.DUPLICATE:
            self.metric("EventDuplicate")
            return IngestResult(Outcome.DUPLICATE, event.key, "no sidecar to delete")
        return self._skipped(event.key, decision)

    # ---- backfill (S3 Batch Operations)

    def backfill(self, bucket: str, key: str) -> IngestResult:
        """Analyse the object's current version unless its sidecar is up to date.

        A task's ``s3VersionId`` is not used: a sidecar describes the current
        version (readers compare its ETag), so that is the one analysed.
        Raises :class:`SourceUnavailable` on transient trouble.
        """
        reason = self.ignored_because(bucket, key)
        if reason is not None:
            self.metric("EventIgnored")
            return IngestResult(Outcome.IGNORED, key, reason)
        current, token = self.store.read(key)
        try:
            obj = self.reader.fetch(bucket, key)
        except ObjectGone as exc:
            self.metric("BackfillMissing")
            return IngestResult(Outcome.MISSING, key, f"no such object ({exc})")
        except SourceTooLarge as exc:
            etag, size = getattr(exc, "etag", ""), getattr(exc, "size", None)
            if current is not None and not current.ok and current.etag == etag:
                return IngestResult(Outcome.FAILED, key, f"{exc.code}: {exc.message} (recorded)", current)
            sidecar = Sidecar.from_error(
                bucket=bucket, key=key, etag=etag, size=size, error=exc, trigger="BatchOperations"
            )
            return self._store(sidecar, current, token)
        decision = decide_write(current, obj.etag, None, ANALYZER_VERSION)
        if decision is Decision.UP_TO_DATE and current is not None and not current.ok:
            error = current.error or {}
            return IngestResult(Outcome.FAILED, key, f"{error.get('code')}: {error.get('message')} (recorded)", current)
        if decision not in (Decision.WRITE, Decision.VERIFY):
            return self._skipped(key, decision)
        sidecar = self._analyse(obj, bucket, "BatchOperations", None, None)
        return self._store(sidecar, current, token, still_current=lambda: self.reader.is_current(bucket, key, obj.etag))

    # ---- shared

    def _analyse(
        self, obj: SourceObject, bucket: str, trigger: str, sequencer: str | None, version_id: str | None
    ) -> Sidecar:
        try:
            return analyse_to_sidecar(
                self.analyze,
                self.settings,
                bucket=bucket,
                key=obj.key,
                etag=obj.etag,
                data=obj.data,
                trigger=trigger,
                sequencer=sequencer,
                version_id=version_id,
            )
        except ThumbError as exc:
            # 5xx from the analysis (a model missing or failing to load): retry later.
            raise SourceUnavailable(f"analysis unavailable ({exc.code})") from exc

    def _store(
        self,
        sidecar: Sidecar,
        current: Sidecar | None,
        token: str | None,
        still_current: Callable[[], bool] | None = None,
    ) -> IngestResult:
        result = write_guarded(self.store, sidecar, current=current, token=token, still_current=still_current)
        if result.decision is not Decision.WRITE:
            return self._skipped(sidecar.key, result.decision)
        if sidecar.ok:
            log.info("sidecar written for %r (%s)", sidecar.key, sidecar.trigger)
            self.metric("SidecarWritten")
            return IngestResult(Outcome.ANALYSED, sidecar.key, "sidecar written", sidecar)
        error = sidecar.error or {}
        log.warning(
            "permanent failure for %r: %s %s (recorded in its sidecar, not retried)",
            sidecar.key,
            error.get("code"),
            error.get("message"),
        )
        self.metric("PermanentFailure")
        return IngestResult(Outcome.FAILED, sidecar.key, f"{error.get('code')}: {error.get('message')}", sidecar)

    def _skipped(self, key: str, decision: Decision) -> IngestResult:
        outcome = _FROM_DECISION.get(decision, Outcome.IGNORED)
        log.info("sidecar of %r left as is: %s", key, outcome.value)
        self.metric({"stale": "EventStale", "duplicate": "EventDuplicate"}.get(outcome.value, "SidecarUnchanged"))
        return IngestResult(outcome, key, outcome.value)


# ------------------------------------------------------------ batch operations

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


def build_ingestor(
    settings: Settings, *, client: Any | None = None, analyze: AnalyzeFn | None = None, on_metric: Metric | None = None
) -> Ingestor:
    from smartthumb.sidecars import S3SidecarStore

    store = S3SidecarStore(settings.analysis_bucket, settings.analysis_prefix, client=client)
    reader = S3ObjectReader(settings.max_source_bytes, client=client)
    renders = render_store_from_settings(settings, client=client)
    return Ingestor(settings, store, reader, analyze=analyze, on_metric=on_metric, renders=renders)

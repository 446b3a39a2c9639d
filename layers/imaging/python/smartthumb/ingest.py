"""S3 events and Batch Operations tasks → analysis → sidecars. No Lambda here.

The AnalyzeFunction handler parses nothing itself: it hands each S3 event
record (a plain mapping) or the whole Batch Operations event to this module.

Size: one event's whole path (decode the key, order, fetch with its fault
mapping, analyse, store, remove its stored renders) reads best in one place;
Batch Operations are in batch.py.

Delivery rules this module keeps:

* Keys in S3 events are URL-encoded as form values (``+`` for a space,
  ``%xx`` for UTF-8 bytes): :func:`decode_event_key` undoes it. Powertools'
  ``S3EventRecord.s3.get_object.key`` does *not* (only ``S3Event.object_key``
  of the first record does), so records are decoded here.
* Own output is never analysed: :meth:`Settings.is_analysis_output` keys are
  ignored, and :func:`validate_for_ingest` refuses at start a configuration
  whose sidecars would land under the watched prefix
  (:meth:`Settings.sidecar_loop`, the one statement of that rule).
* At least once, any order: sidecars carry the event ``sequencer``; an older
  or repeated event changes nothing (see :mod:`smartthumb.sidecars.ordering`). The
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

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

from smartthumb.aws import LazyS3Client, S3Failure, S3Fault
from smartthumb.config import ConfigError, Settings
from smartthumb.errors import SourceTooLarge, SourceUnavailable, SourceUnreadable, ThumbError
from smartthumb.render_store import RenderStore, forget_renders, render_store_from_settings
from smartthumb.sidecars import (
    ANALYZER_VERSION,
    AnalyzeFn,
    Decision,
    S3SidecarStore,
    Sidecar,
    SidecarStore,
    build_sidecar,
    decide_write,
    delete_guarded,
    record_sequencer,
    undo_if_orphaned,
    write_guarded,
)
from smartthumb.sources import SourceObject, read_s3_object, s3_version_is_current

log = logging.getLogger("smartthumb.ingest")

Metric = Callable[[str, float], None]


def decode_event_key(raw: str) -> str:
    """An S3 event key as stored: ``+`` is a space, ``%xx`` are UTF-8 bytes."""
    return unquote_plus(raw, encoding="utf-8", errors="strict")


def validate_for_ingest(settings: Settings) -> None:
    """Refuse, at cold start, a configuration that cannot work or would loop."""
    if not settings.analysis_bucket:
        raise ConfigError("ANALYSIS_BUCKET must be set for the AnalyzeFunction")
    loop = settings.sidecar_loop()
    if loop:
        raise ConfigError(loop)


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
        size=int(size) if isinstance(size, (int, str)) and str(size).isascii() and str(size).isdigit() else None,
        sequencer=_sequencer(obj.get("sequencer")),
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


#: S3's sequencers are hexadecimal (16-20 digits seen); anything else is dropped, not stored.
MAX_SEQUENCER = 64


def _sequencer(raw: object) -> str | None:
    """A record's sequencer, or None when it is not one S3 sends. Stored, a non-hex value
    ("ZZZZ") would compare above every real one and make each later event stale; an event
    without one is ordered by the object itself, as a backfill is (``ordering.decide_write``)."""
    text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not text or len(text) > MAX_SEQUENCER or any(c not in "0123456789abcdefABCDEF" for c in text):
        return None
    return text


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


#: Faults after which the event's object counts as gone (the event is superseded,
#: not retried): only a missing object or a failed precondition (the ETag moved on).
GONE = frozenset({S3Fault.MISSING, S3Fault.SUPERSEDED})
#: Faults that no retry can fix: the object is there but this function may not
#: read it (AccessDenied, e.g. SSE-KMS without kms:Decrypt; InvalidObjectState,
#: archived; NoSuchBucket). Recorded as an error sidecar, a metric and an ERROR
#: log. Everything else (throttling, KMS throttling, 429, 5xx) is transient:
#: raised, so Lambda retries and then dead-letters the event.
UNREADABLE = frozenset({S3Fault.DENIED, S3Fault.NO_BUCKET, S3Fault.PERMANENT, S3Fault.UNSUPPORTED})


class S3ObjectReader(LazyS3Client):
    """Fetch source objects for analysis, bounded, optionally pinned to an ETag."""

    def __init__(self, max_bytes: int, client: Any | None = None) -> None:
        self.max_bytes = max_bytes
        self._client = client

    def is_current(self, bucket: str, key: str, etag: str) -> bool:
        return s3_version_is_current(self.client, bucket, key, etag)

    def current_check(self, bucket: str, key: str, etag: str) -> Callable[[], bool]:
        """:meth:`is_current` of this version, asked later (a partial of the sources
        function, so the sidecar ordering calls S3, not back into this module)."""
        return functools.partial(s3_version_is_current, self.client, bucket, key, etag)

    def fetch(self, bucket: str, key: str, etag: str | None = None) -> SourceObject:
        """Raise :class:`ObjectGone`, :class:`SourceTooLarge` or :class:`SourceUnavailable`."""
        try:
            return read_s3_object(self.client, bucket, key, self.max_bytes, etag)
        except S3Failure as exc:
            if exc.fault in GONE:
                raise ObjectGone(exc.detail or exc.fault.value) from exc
            if exc.fault in UNREADABLE:
                raise SourceUnreadable(f"the source object cannot be read ({exc.fault.value})") from exc
            raise SourceUnavailable("the source store is unavailable") from exc


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
            from smartthumb.analysis.analyzer import analyze_image as analyze
        self.analyze: AnalyzeFn = analyze
        self.on_metric = on_metric

    def metric(self, name: str, value: float = 1) -> None:
        if self.on_metric is not None:
            self.on_metric(name, value)

    def ignored_because(self, bucket: str, key: str) -> str | None:
        """Why ``bucket``/``key`` is not ours to analyse, or ``None``."""
        s = self.settings
        if s.is_analysis_output(bucket, key):
            return "own output (a sidecar or a stored render)"
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
            except Exception as exc:  # a bug on one record must not drop the others: retried with them
                log.exception("unexpected failure for %r (will be retried)", event.key)
                self.metric("RecordFailed")
                transient = transient or SourceUnavailable("unexpected failure")
                failed.append(f"{event.event_name} {event.key!r}: {type(exc).__name__}")
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
        if self.renders is not None:  # a deleted or overwritten source's stored thumbnails go
            forget_renders(self.renders, event.key[len(self.settings.source_prefix) :], self.metric)
        if event.kind == "removed":
            return self.removed(event)
        return self.created(event)

    def created(self, event: ObjectEvent) -> IngestResult:
        current, token = self.store.read(event.key)
        decision = decide_write(current, event.etag or "", event.sequencer, ANALYZER_VERSION)
        if decision is Decision.UP_TO_DATE and current is not None and current.sequencer is None and event.sequencer:
            # Written by a backfill or on demand: record the event order without re-analysing.
            record_sequencer(self.store, current, token, event.sequencer)
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
            except (SourceUnreadable, SourceTooLarge) as exc:
                if isinstance(exc, SourceUnreadable):
                    log.error("cannot read %r for analysis: %s (check the role, KMS key, class)", event.key, exc)
                    self.metric("SourceUnreadable")
                sidecar = Sidecar.from_error(
                    etag=event.etag or "", size=event.size, error=exc, trigger=event.event_name, **common
                )
            else:
                sidecar = self._analyse(obj, event.bucket, event.event_name, event.sequencer, event.version_id)
        result = self._store(sidecar, current, token)
        if result.outcome in (Outcome.ANALYSED, Outcome.FAILED) and undo_if_orphaned(
            self.store, sidecar, self.reader.current_check(event.bucket, event.key, sidecar.etag)
        ):  # a delete raced this create: the delete wins
            log.info("sidecar of %r removed again: the object was deleted meanwhile", event.key)
            self.metric("SidecarOrphanRemoved")
            return IngestResult(Outcome.SUPERSEDED, event.key, "the object was deleted while being analysed")
        return result

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
        return self._store(sidecar, current, token, still_current=self.reader.current_check(bucket, key, obj.etag))

    # ---- shared

    def _analyse(
        self, obj: SourceObject, bucket: str, trigger: str, sequencer: str | None, version_id: str | None
    ) -> Sidecar:
        try:
            return build_sidecar(
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


def build_ingestor(
    settings: Settings, *, client: Any | None = None, analyze: AnalyzeFn | None = None, on_metric: Metric | None = None
) -> Ingestor:
    store = S3SidecarStore(settings.analysis_bucket, settings.analysis_prefix, client=client)
    reader = S3ObjectReader(settings.max_source_bytes, client=client)
    renders = render_store_from_settings(settings, client=client)  # a source's delete/overwrite removes its renders
    return Ingestor(settings, store, reader, analyze=analyze, on_metric=on_metric, renders=renders)

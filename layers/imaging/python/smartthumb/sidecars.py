"""Analysis sidecars: one JSON document per source image, and where they live.

A sidecar records what the analysis found for one *version* of one source
object (its ETag), so ``c=7`` thumbnails and ``GET /analysis`` can answer
without running a model. It is written by the AnalyzeFunction on upload, by
S3 Batch Operations backfills, and on demand when a ``c=7`` request finds
none (or a stale one).

Shape (``schemaVersion`` 1; every key is always present)::

    {
      "schemaVersion": 1,
      "status": "ok" | "error",
      "source": {"bucket", "key", "etag", "size", "versionId"},
      "sequencer": "0055AED6DCD90281E5" | null,   # S3 event order, per key
      "trigger": "ObjectCreated:Put" | "BatchOperations" | "OnDemand" | ...,
      "analyzerVersion": "smartthumb 0.1.0",
      "modelVersion": "smartthumb-yunet2023mar-u2netp-1" | null,
      "ratios": [0.75, 1.0, 1.5, 1.78],
      "azure": {Azure smart-crops result for "ratios"} | null,
      "azureAutomatic": {Azure result with the one automatic crop} | null,
      "roi": {"x", "y", "w", "h"} | null,
      "faces": [{"box": [x, y, w, h], "score", "landmarks"}],
      "analysis": {Analysis.to_dict()} | null,
      "error": {"status", "code", "message"} | null,
      "createdAt": "2026-11-22T14:00:00Z"
    }

Concurrency: S3 delivers events at least once and in no particular order.
Writers therefore read the current sidecar with a *token* (its S3 ETag),
decide with :func:`decide_write` / :func:`decide_delete`, and write or delete
*conditionally* on that token (S3 ``If-Match`` / ``If-None-Match``), so two
writers never silently overwrite each other. This module never imports numpy
or onnxruntime at import time: the ``c=7`` path that reads a sidecar stays light.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from smartthumb import __version__
from smartthumb.aws import LazyS3Client
from smartthumb.config import Settings
from smartthumb.errors import SourceUnavailable, ThumbError
from smartthumb.geometry import Box, Size, scale_box
from smartthumb.regions import RegionHint
from smartthumb.sources import SourceObject

log = logging.getLogger("smartthumb.sidecars")

SCHEMA_VERSION = 1
ANALYZER_VERSION = f"smartthumb {__version__}"
#: Sidecars a warm ThumbnailFunction keeps in memory (a few KB each).
MEMO_ENTRIES = 256
#: S3's key limit in bytes; longer sidecar keys fall back to a hashed name.
MAX_KEY_BYTES = 1024

#: ``analyze_image``'s signature (see :mod:`smartthumb.analysis.analyzer`).
AnalyzeFn = Callable[[bytes, Sequence[float] | None, Settings], Any]


# ----------------------------------------------------------------- ordering


def compare_sequencers(a: str, b: str) -> int:
    """-1, 0 or 1 as S3 event sequencer ``a`` is older, equal or newer than ``b``.

    Sequencers are hexadecimal strings of varying length and are comparable
    only for events on the same key. AWS's guide says to pad the shorter one
    with zeros and compare lexicographically; its current text pads on the
    right (an older revision said left), and we follow the current one.
    Case is normalised, as the value is hexadecimal.
    """
    a, b = a.strip().upper(), b.strip().upper()
    width = max(len(a), len(b))
    a, b = a.ljust(width, "0"), b.ljust(width, "0")
    return (a > b) - (a < b)


def sidecar_key(prefix: str, source_key: str) -> str:
    """``prefix + source_key + ".json"``; a hashed name when that passes S3's limit."""
    key = f"{prefix}{source_key}.json"
    if len(key.encode("utf-8", "surrogatepass")) <= MAX_KEY_BYTES:
        return key
    digest = hashlib.sha256(source_key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}_long-keys/{digest}.json"


# ----------------------------------------------------------------- document


def _box_json(box: Box | None) -> dict[str, int] | None:
    return None if box is None else {"x": box.x, "y": box.y, "w": box.w, "h": box.h}


def _box_from_json(raw: Any) -> Box | None:
    if not isinstance(raw, dict):
        return None
    try:
        box = Box(int(raw["x"]), int(raw["y"]), int(raw["w"]), int(raw["h"]))
    except (KeyError, TypeError, ValueError):
        return None
    return box if box.w > 0 and box.h > 0 else None


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Sidecar:
    """One sidecar document (see the module docstring for the JSON shape)."""

    bucket: str
    key: str
    etag: str
    size: int | None
    status: str = "ok"
    version_id: str | None = None
    sequencer: str | None = None
    trigger: str = "OnDemand"
    analyzer_version: str = ANALYZER_VERSION
    model_version: str | None = None
    ratios: tuple[float, ...] = ()
    azure: dict[str, Any] | None = None
    azure_automatic: dict[str, Any] | None = None
    roi: Box | None = None
    width: int | None = None
    height: int | None = None
    faces: tuple[dict[str, Any], ...] = ()
    analysis: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    created_at: str = field(default_factory=utc_now)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_analysis(
        cls,
        *,
        bucket: str,
        key: str,
        etag: str,
        size: int | None,
        analysis: Any,
        automatic: Any | None,
        ratios: Sequence[float],
        **extra: Any,
    ) -> Sidecar:
        """From :class:`~smartthumb.analysis.analyzer.Analysis` values (duck-typed)."""
        as_dict = analysis.to_dict()
        return cls(
            bucket=bucket,
            key=key,
            etag=etag,
            size=size,
            status="ok",
            model_version=getattr(analysis, "model_version", None),
            ratios=tuple(float(r) for r in ratios),
            azure=analysis.to_azure(),
            azure_automatic=automatic.to_azure() if automatic is not None else None,
            roi=analysis.roi,
            width=analysis.width,
            height=analysis.height,
            faces=tuple(as_dict.get("faces") or ()),
            analysis=as_dict,
            **extra,
        )

    @classmethod
    def from_error(
        cls, *, bucket: str, key: str, etag: str, size: int | None, error: ThumbError, **extra: Any
    ) -> Sidecar:
        """A permanent failure (not an image, too large): recorded, not retried."""
        body = {"status": error.status, "code": error.code, "message": error.message}
        return cls(bucket=bucket, key=key, etag=etag, size=size, status="error", error=body, **extra)

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": SCHEMA_VERSION,
            "status": self.status,
            "source": {
                "bucket": self.bucket,
                "key": self.key,
                "etag": self.etag,
                "size": self.size,
                "versionId": self.version_id,
            },
            "sequencer": self.sequencer,
            "trigger": self.trigger,
            "analyzerVersion": self.analyzer_version,
            "modelVersion": self.model_version,
            "ratios": list(self.ratios),
            "azure": self.azure,
            "azureAutomatic": self.azure_automatic,
            "roi": _box_json(self.roi),
            "faces": list(self.faces),
            "analysis": self.analysis,
            "error": self.error,
            "createdAt": self.created_at,
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Sidecar:
        """Parse a stored document; raises ``ValueError`` if it is not one."""
        if not isinstance(doc, dict) or doc.get("schemaVersion") != SCHEMA_VERSION:
            raise ValueError("not a smartthumb sidecar (schemaVersion)")
        src = doc.get("source")
        if not isinstance(src, dict) or not isinstance(src.get("key"), str):
            raise ValueError("sidecar without a source")
        azure = doc.get("azure") if isinstance(doc.get("azure"), dict) else None
        meta = (azure or {}).get("metadata") or {}
        return cls(
            bucket=str(src.get("bucket") or ""),
            key=src["key"],
            etag=str(src.get("etag") or ""),
            size=src.get("size") if isinstance(src.get("size"), int) else None,
            status=str(doc.get("status") or "error"),
            version_id=src.get("versionId"),
            sequencer=doc.get("sequencer") or None,
            trigger=str(doc.get("trigger") or ""),
            analyzer_version=str(doc.get("analyzerVersion") or ""),
            model_version=doc.get("modelVersion"),
            ratios=tuple(float(r) for r in doc.get("ratios") or ()),
            azure=azure,
            azure_automatic=doc.get("azureAutomatic") if isinstance(doc.get("azureAutomatic"), dict) else None,
            roi=_box_from_json(doc.get("roi")),
            width=meta.get("width") if isinstance(meta.get("width"), int) else None,
            height=meta.get("height") if isinstance(meta.get("height"), int) else None,
            faces=tuple(doc.get("faces") or ()),
            analysis=doc.get("analysis") if isinstance(doc.get("analysis"), dict) else None,
            error=doc.get("error") if isinstance(doc.get("error"), dict) else None,
            created_at=str(doc.get("createdAt") or ""),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Sidecar:
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError("sidecar is not JSON") from exc
        return cls.from_json(doc)


# ---------------------------------------------------------------- decisions


class Decision(StrEnum):
    WRITE = "write"
    STALE = "stale"  # a newer event already wrote (or deleted) this key
    DUPLICATE = "duplicate"  # this very event was processed before
    UP_TO_DATE = "up-to-date"  # same object version, same analyzer: nothing to do
    YIELD = "yield"  # an un-sequenced writer met a sequenced sidecar of another version
    VERIFY = "verify"  # write only if the object read is still the current one


def decide_write(current: Sidecar | None, etag: str, sequencer: str | None, analyzer_version: str) -> Decision:
    """Whether a writer holding ``etag``/``sequencer`` may replace ``current``.

    Event writers (with a sequencer) order by sequencer. Writers without one
    (backfill, on-demand) read the object *now*, so they may refresh a sidecar
    of the same version with an older analyzer, fill a missing one, or replace
    one that was itself written without a sequencer. An event-written sidecar
    of another version may be older or newer than what they read, so they
    replace it only after checking that the object they analysed is still the
    current one (``VERIFY``).
    """
    if current is None:
        return Decision.WRITE
    same_version = current.etag == etag and current.analyzer_version == analyzer_version
    if sequencer is not None:
        if current.sequencer is None:
            return Decision.UP_TO_DATE if same_version else Decision.WRITE
        order = compare_sequencers(sequencer, current.sequencer)
        if order < 0:
            return Decision.STALE
        if order == 0:
            return Decision.DUPLICATE
        return Decision.WRITE
    if same_version:
        return Decision.UP_TO_DATE
    if current.etag == etag or current.sequencer is None:
        return Decision.WRITE
    return Decision.VERIFY


def decide_delete(current: Sidecar | None, sequencer: str | None) -> Decision:
    """Whether an ObjectRemoved event with ``sequencer`` may delete ``current``."""
    if current is None:
        return Decision.DUPLICATE
    if sequencer is not None and current.sequencer is not None:
        order = compare_sequencers(sequencer, current.sequencer)
        if order <= 0:
            return Decision.STALE
    return Decision.WRITE


# -------------------------------------------------------------------- stores


class ConditionFailed(Exception):
    """The sidecar changed between read and write: re-read and decide again."""


class SidecarStore(Protocol):
    def read(self, source_key: str) -> tuple[Sidecar | None, str | None]:
        """The sidecar (``None`` if absent or unreadable) and a token for conditional writes."""
        ...

    def write(self, source_key: str, sidecar: Sidecar, expect: str | None) -> None:
        """Write if the stored token is still ``expect`` (``None``: must not exist)."""
        ...

    def delete(self, source_key: str, expect: str) -> None: ...

    def list_keys(self) -> list[str]: ...


_TRANSIENT_S3 = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "503",
    "500",
    "OperationAborted",
}


def is_transient(exc: BaseException) -> bool:
    """S3 throttling, timeouts, 5xx and connection trouble: worth a retry."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return err.get("Code", "") in _TRANSIENT_S3 or int(status) >= 500
    return isinstance(exc, BotoCoreError)


def _error_code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class S3SidecarStore(LazyS3Client):
    """Sidecars under ``prefix`` in an S3 bucket; tokens are the sidecars' ETags."""

    def __init__(self, bucket: str, prefix: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client

    def object_key(self, source_key: str) -> str:
        return sidecar_key(self.prefix, source_key)

    def _unavailable(self, exc: Exception) -> SourceUnavailable:
        return SourceUnavailable("the analysis store is unavailable, try again")

    def read(self, source_key: str) -> tuple[Sidecar | None, str | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.object_key(source_key))
            data = obj["Body"].read()
        except ClientError as exc:
            # Without s3:ListBucket on the analysis bucket, S3 answers a missing key
            # with 403 AccessDenied instead of 404: both mean "no sidecar" here. (Had
            # it existed unreadably, the conditional write that follows fails safely.)
            if _error_code(exc) in ("NoSuchKey", "404", "NotFound", "AccessDenied", "403"):
                return None, None
            raise self._unavailable(exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc) from exc
        token = str(obj.get("ETag", ""))
        try:
            return Sidecar.from_bytes(data), token
        except ValueError:
            log.warning("unreadable sidecar for %r: treated as missing", source_key)
            return None, token

    def write(self, source_key: str, sidecar: Sidecar, expect: str | None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        condition = {"IfMatch": expect} if expect else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.object_key(source_key),
                Body=sidecar.to_bytes(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            if _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise ConditionFailed(source_key) from exc
            raise self._unavailable(exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc) from exc

    def delete(self, source_key: str, expect: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.object_key(source_key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=expect)
        except ClientError as exc:
            code = _error_code(exc)
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise ConditionFailed(source_key) from exc
            if code in ("NoSuchKey", "404"):
                return
            if code == "NotImplemented":  # an S3-compatible store without conditional deletes
                self.client.delete_object(Bucket=self.bucket, Key=key)
                return
            raise self._unavailable(exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc) from exc

    def list_keys(self) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return keys


class LocalSidecarStore:
    """Sidecars as files under a folder (``smartthumb serve``); tokens are content hashes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def path_for(self, source_key: str) -> Path:
        rel = sidecar_key("", source_key)
        path = (self.root / rel).resolve()
        if self.root.resolve() not in path.parents:
            digest = hashlib.sha256(source_key.encode("utf-8", "surrogatepass")).hexdigest()
            path = self.root.resolve() / "_long-keys" / f"{digest}.json"
        return path

    @staticmethod
    def _token(data: bytes) -> str:
        return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'

    def _read_raw(self, source_key: str) -> bytes | None:
        try:
            return self.path_for(source_key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def read(self, source_key: str) -> tuple[Sidecar | None, str | None]:
        data = self._read_raw(source_key)
        if data is None:
            return None, None
        try:
            return Sidecar.from_bytes(data), self._token(data)
        except ValueError:
            return None, self._token(data)

    def write(self, source_key: str, sidecar: Sidecar, expect: str | None) -> None:
        with self._lock:
            data = self._read_raw(source_key)
            if (data is None) != (expect is None) or (data is not None and self._token(data) != expect):
                raise ConditionFailed(source_key)
            path = self.path_for(source_key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(sidecar.to_bytes())
            os.replace(tmp, path)

    def delete(self, source_key: str, expect: str) -> None:
        with self._lock:
            data = self._read_raw(source_key)
            if data is None:
                return
            if self._token(data) != expect:
                raise ConditionFailed(source_key)
            with contextlib.suppress(FileNotFoundError):
                self.path_for(source_key).unlink()

    def list_keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*.json"))


class NullSidecarStore:
    """No sidecars (an S3 source without an analysis bucket): always computes."""

    def read(self, source_key: str) -> tuple[Sidecar | None, str | None]:
        return None, None

    def write(self, source_key: str, sidecar: Sidecar, expect: str | None) -> None:
        return None

    def delete(self, source_key: str, expect: str) -> None:
        return None

    def list_keys(self) -> list[str]:
        return []


def store_from_settings(settings: Settings, client: Any | None = None) -> SidecarStore:
    """S3 when ``ANALYSIS_BUCKET`` is set; none for an S3 source without one; else a
    local folder (``LOCAL_ANALYSIS_STORE``, default: a per-store folder in the
    user's cache, never inside the image store)."""
    if settings.analysis_bucket:
        return S3SidecarStore(settings.analysis_bucket, settings.analysis_prefix, client=client)
    if settings.source_bucket:
        return NullSidecarStore()
    root = getattr(settings, "local_analysis_store", "") or ""
    if not root:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smartthumb" / "analysis"
        store_id = hashlib.sha256((settings.local_store or "samples").encode()).hexdigest()[:12]
        root = str(base / store_id)
    return LocalSidecarStore(root)


# ------------------------------------------------------------------- writing


@dataclass(frozen=True)
class WriteResult:
    decision: Decision
    attempts: int


def write_guarded(
    store: SidecarStore,
    sidecar: Sidecar,
    *,
    current: Sidecar | None,
    token: str | None,
    still_current: Callable[[], bool] | None = None,
    max_attempts: int = 4,
) -> WriteResult:
    """Write ``sidecar`` unless :func:`decide_write` says otherwise.

    ``current``/``token`` come from a read made *before* the object was
    fetched, so any write by someone else since then fails the condition; an
    event writer then re-reads and decides again, a writer without a
    sequencer yields (someone with better knowledge wrote). ``still_current()``
    answers a ``VERIFY`` decision: is the analysed object still the stored one?
    """
    for attempt in range(1, max_attempts + 1):
        decision = decide_write(current, sidecar.etag, sidecar.sequencer, sidecar.analyzer_version)
        if decision is Decision.VERIFY:
            decision = Decision.WRITE if still_current is not None and still_current() else Decision.YIELD
        if decision is not Decision.WRITE:
            return WriteResult(decision, attempt)
        new = sidecar
        if sidecar.sequencer is None and current is not None and current.sequencer is not None:
            # Keep the event order known for this key: a later, older event must stay stale.
            new = replace(sidecar, sequencer=current.sequencer)
        try:
            store.write(sidecar.key, new, token)
            return WriteResult(Decision.WRITE, attempt)
        except ConditionFailed:
            if sidecar.sequencer is None:
                return WriteResult(Decision.YIELD, attempt)
            current, token = store.read(sidecar.key)
    raise SourceUnavailable("the sidecar kept changing while being written; try again")


def delete_guarded(store: SidecarStore, source_key: str, sequencer: str | None, max_attempts: int = 4) -> Decision:
    """Delete the sidecar of ``source_key`` unless a newer event wrote it."""
    for _ in range(max_attempts):
        current, token = store.read(source_key)
        if current is None and token is None:
            return Decision.DUPLICATE
        decision = decide_delete(current, sequencer) if current is not None else Decision.WRITE
        if decision is not Decision.WRITE:
            return decision
        try:
            store.delete(source_key, token or "")
            return Decision.WRITE
        except ConditionFailed:
            continue
    raise SourceUnavailable("the sidecar kept changing while being deleted; try again")


def head_matches(client: Any, bucket: str, key: str, etag: str) -> bool:
    """Whether ``bucket/key`` still has ``etag`` (HEAD with If-Match).

    Raises :class:`SourceUnavailable` on transient trouble."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client.head_object(Bucket=bucket, Key=key, IfMatch=f'"{etag}"')
    except ClientError as exc:
        if is_transient(exc):
            raise SourceUnavailable("the source store is unavailable") from exc
        return False
    except BotoCoreError as exc:
        raise SourceUnavailable("the source store is unavailable") from exc
    return True


# ------------------------------------------------------------- c=7 regions


def _default_analyze(data: bytes, ratios: Sequence[float] | None, settings: Settings) -> Any:
    # Deferred: numpy and onnxruntime load only when a sidecar is missing.
    from smartthumb.analysis.analyzer import analyze_image

    return analyze_image(data, ratios, settings)


class SidecarRegionProvider:
    """``c=7`` regions from sidecars; missing or stale ones are computed on the fly.

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
        *,
        analyze: AnalyzeFn | None = None,
        bucket: str | None = None,
        on_metric: Callable[[str, float], None] | None = None,
        still_current: Callable[[SourceObject], bool] | None = None,
        client: Any | None = None,
    ) -> None:
        self.settings = settings
        self._client = client
        self.still_current = still_current or self._source_still_current
        self.store = store
        self.analyze = analyze or _default_analyze
        self.bucket = settings.source_bucket if bucket is None else bucket
        self.on_metric = on_metric
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight: dict[tuple[str, str], concurrent.futures.Future[Sidecar]] = {}
        self._lock = threading.Lock()
        self.analysis_calls = 0
        self._memo: OrderedDict[tuple[str, str], Sidecar] = OrderedDict()

    def _metric(self, name: str) -> None:
        if self.on_metric is not None:
            self.on_metric(name, 1)

    def _source_still_current(self, source: SourceObject) -> bool:
        """Is ``source`` still the stored version? (A local store has one writer: yes.)"""
        if not self.bucket:
            return True
        if self._client is None:
            from smartthumb.aws import s3_client

            self._client = s3_client()
        return head_matches(self._client, self.bucket, source.key, source.etag)

    def current(self, source: SourceObject) -> Sidecar | None:
        """The stored sidecar for this version of ``source``, or ``None``.

        A warm container remembers recent sidecars per (key, ETag): a sidecar
        describes one object version, so a remembered one stays right for it.
        """
        memo_key = (source.key, source.etag)
        with self._lock:
            hit = self._memo.get(memo_key)
            if hit is not None:
                self._memo.move_to_end(memo_key)
                return hit
        try:
            sidecar, _ = self.store.read(source.key)
        except ThumbError as exc:
            log.warning("sidecar read failed (%s): computing instead", exc.code)
            return None
        if sidecar is not None and sidecar.etag == source.etag:
            self._remember(sidecar)
            return sidecar
        return None

    def _remember(self, sidecar: Sidecar) -> None:
        with self._lock:
            self._memo[(sidecar.key, sidecar.etag)] = sidecar
            while len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)

    def region_for(self, source: SourceObject, size: Size, budget_ms: int) -> RegionHint:
        sidecar = self.current(source)
        if sidecar is None:
            self._metric("SidecarMiss")
            sidecar = self.compute(source, budget_ms)
            if sidecar is None:
                return RegionHint(None, "fallback")
            origin = "computed"
        else:
            self._metric("SidecarHit")
            origin = "sidecar"
        if not sidecar.ok or sidecar.roi is None:
            return RegionHint(None, origin if sidecar.ok else "fallback")
        frm = Size(sidecar.width, sidecar.height) if sidecar.width and sidecar.height else size
        return RegionHint(scale_box(sidecar.roi, frm, size), origin)

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

    def _forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    def _analyse_and_store(self, source: SourceObject) -> Sidecar:
        """Runs on the worker: analyse (configured ratios + automatic) and write back."""
        started = time.perf_counter()
        current, token = None, None
        with contextlib.suppress(ThumbError):
            current, token = self.store.read(source.key)
        sidecar = analyse_to_sidecar(
            self.analyze,
            self.settings,
            bucket=self.bucket,
            key=source.key,
            etag=source.etag,
            data=source.data,
            trigger="OnDemand",
            automatic=False,
        )
        self.analysis_calls += 1
        self._remember(sidecar)
        try:
            result = write_guarded(
                self.store, sidecar, current=current, token=token, still_current=lambda: self.still_current(source)
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("sidecar %s for %r after %.0f ms", result.decision.value, source.key, elapsed_ms)
        except (ThumbError, OSError) as exc:
            log.warning("sidecar write-back failed (%s); the region is still used", exc)
        return sidecar


def analyse_to_sidecar(
    analyze: AnalyzeFn,
    settings: Settings,
    *,
    bucket: str,
    key: str,
    etag: str,
    data: bytes,
    trigger: str,
    sequencer: str | None = None,
    version_id: str | None = None,
    automatic: bool = True,
) -> Sidecar:
    """Run the analysis for the configured ratios and (``automatic``) the automatic crop.

    The automatic crop costs a second pass (the analysis API takes either
    ratios or none); the on-demand ``c=7`` path skips it to keep its latency.
    A permanent problem with the bytes (4xx :class:`ThumbError`: not an image,
    too large) gives an error sidecar; anything else propagates.
    """
    ratios = list(settings.smartcrop_aspect_ratios)
    extra = {"sequencer": sequencer, "version_id": version_id, "trigger": trigger}
    try:
        analysis = analyze(data, ratios, settings)
        auto = analyze(data, None, settings) if automatic else None
    except ThumbError as exc:
        if not exc.permanent:
            raise
        return Sidecar.from_error(bucket=bucket, key=key, etag=etag, size=len(data), error=exc, **extra)
    return Sidecar.from_analysis(
        bucket=bucket,
        key=key,
        etag=etag,
        size=len(data),
        analysis=analysis,
        automatic=auto,
        ratios=ratios,
        **extra,
    )

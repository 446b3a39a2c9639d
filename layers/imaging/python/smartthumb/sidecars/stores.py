"""Where sidecars live: an S3 prefix, a local folder, or nowhere.

All three implement :class:`~smartthumb.sidecars.ordering.SidecarStore`;
S3 errors are sorted by :func:`smartthumb.aws.classify` alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from smartthumb.aws import LazyS3Client, S3Failure, S3Fault, looks_absent, s3_errors
from smartthumb.config import Settings
from smartthumb.errors import SourceUnavailable
from smartthumb.sidecars.document import Sidecar, sidecar_key
from smartthumb.sidecars.ordering import ConditionFailed, SidecarStore

log = logging.getLogger("smartthumb.sidecars")


def _unavailable() -> SourceUnavailable:
    return SourceUnavailable("the analysis store is unavailable, try again")


class S3SidecarStore(LazyS3Client):
    """Sidecars under ``prefix`` in an S3 bucket; tokens are the sidecars' ETags."""

    def __init__(self, bucket: str, prefix: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client

    def object_key(self, source_key: str) -> str:
        return sidecar_key(self.prefix, source_key)

    def read(self, source_key: str) -> tuple[Sidecar | None, str | None]:
        try:
            with s3_errors():
                obj = self.client.get_object(Bucket=self.bucket, Key=self.object_key(source_key))
                data = obj["Body"].read()
        except S3Failure as exc:
            if looks_absent(exc.fault):
                return None, None
            raise _unavailable() from exc
        token = str(obj.get("ETag", ""))
        try:
            return Sidecar.from_bytes(data), token
        except ValueError:
            log.warning("unreadable sidecar for %r: treated as missing", source_key)
            return None, token

    def write(self, source_key: str, sidecar: Sidecar, expect: str | None) -> None:
        condition = {"IfMatch": expect} if expect else {"IfNoneMatch": "*"}
        try:
            with s3_errors():
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.object_key(source_key),
                    Body=sidecar.to_bytes(),
                    ContentType="application/json",
                    **condition,
                )
        except S3Failure as exc:
            if exc.fault is S3Fault.SUPERSEDED:
                raise ConditionFailed(source_key) from exc
            raise _unavailable() from exc

    def delete(self, source_key: str, expect: str) -> None:
        key = self.object_key(source_key)
        try:
            with s3_errors():
                self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=expect)
        except S3Failure as exc:
            if exc.fault is S3Fault.SUPERSEDED:
                raise ConditionFailed(source_key) from exc
            if exc.fault is S3Fault.MISSING:
                return
            if exc.fault is not S3Fault.UNSUPPORTED:
                raise _unavailable() from exc
            # An S3-compatible store without conditional deletes.
            try:
                with s3_errors():
                    self.client.delete_object(Bucket=self.bucket, Key=key)
            except S3Failure as again:
                raise _unavailable() from again

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
    root = settings.local_analysis_store
    if not root:
        base = Path(settings.cache_home or Path.home() / ".cache") / "smartthumb" / "analysis"
        store_id = hashlib.sha256((settings.local_store or "samples").encode()).hexdigest()[:12]
        root = str(base / store_id)
    return LocalSidecarStore(root)

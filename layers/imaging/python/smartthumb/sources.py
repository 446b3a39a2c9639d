"""Image sources behind one small interface: S3 and a local folder.

Both read with a bounded stream (never trusting ``Content-Length`` alone) so a
source over ``max_bytes`` costs at most ``max_bytes + 1`` bytes of memory.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from smartthumb.aws import LazyS3Client, S3Failure, S3Fault, object_has_etag, s3_errors
from smartthumb.errors import SourceMisconfigured, SourceNotFound, SourceTooLarge, SourceUnavailable, ThumbError

log = logging.getLogger("smartthumb.sources")

#: File extensions listed as images (any file can still be requested by id).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".bmp"})


@dataclass(frozen=True, slots=True)
class SourceObject:
    """The bytes of one source image and what identifies this version."""

    key: str
    data: bytes
    etag: str
    content_type: str = ""


@dataclass(frozen=True, slots=True)
class SourceVersion:
    """Which version of a source is current, known without reading its body (a HEAD, a ``stat``)."""

    key: str
    etag: str


class ImageSource(Protocol):
    def get(self, image_id: str) -> SourceObject:
        """Return the image, or raise SourceNotFound / SourceTooLarge / SourceUnavailable."""
        ...


class VersionedSource(ImageSource, Protocol):
    """A source that can say its current version without a download (both sources here can)."""

    def head(self, image_id: str) -> SourceVersion:
        """The key and ETag :meth:`get` would return now; the same errors as ``get`` but SourceTooLarge."""
        ...


def read_bounded(stream: BinaryIO, max_bytes: int) -> bytes:
    """Read at most ``max_bytes``; raise :class:`SourceTooLarge` past it."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(1 << 20, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise SourceTooLarge(f"the source image is larger than {max_bytes} bytes")
    return b"".join(chunks)


def s3_version_is_current(client: Any, bucket: str, key: str, etag: str) -> bool:
    """Whether ``bucket/key`` still has ``etag``; :class:`SourceUnavailable` on transient trouble."""
    try:
        return object_has_etag(client, bucket, key, etag)
    except S3Failure as exc:
        raise SourceUnavailable("the source store is unavailable") from exc


class LocalFolderSource:
    """Images in a folder; ``id`` is a path relative to it (already validated)."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int, prefix: str = "") -> None:
        self.root = Path(root).resolve()
        self.max_bytes = max_bytes
        self.prefix = prefix

    def path_for(self, image_id: str) -> Path:
        try:
            path = (self.root / (self.prefix + image_id)).resolve()
        except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError before Python 3.13), a name too long
            raise SourceNotFound("no image with that id") from exc
        # Defence in depth: ids are validated already, links could still escape.
        if self.root not in path.parents:
            raise SourceNotFound("no image with that id")
        return path

    def get(self, image_id: str) -> SourceObject:
        path = self.path_for(image_id)
        try:
            stat = path.stat()
            if not path.is_file():
                raise SourceNotFound("no image with that id")
            if stat.st_size > self.max_bytes:
                raise SourceTooLarge(f"the source image is larger than {self.max_bytes} bytes")
            with path.open("rb") as fh:
                data = read_bounded(fh, self.max_bytes)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise SourceNotFound("no image with that id") from exc
        except PermissionError as exc:
            raise SourceNotFound("no image with that id") from exc
        except OSError as exc:
            if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP):  # a path segment over 255 bytes, a symlink loop
                raise SourceNotFound("no image with that id") from exc
            raise SourceUnavailable("the image store could not be read; try again") from exc
        return SourceObject(key=self.prefix + image_id, data=data, etag=self._etag(stat, image_id))

    @staticmethod
    def _etag(stat: os.stat_result, image_id: str) -> str:
        return hashlib.sha256(f"{stat.st_mtime_ns}:{stat.st_size}:{image_id}".encode()).hexdigest()[:32]

    def etag(self, image_id: str) -> str:
        """The version :meth:`get` would return, without reading the file (the render store's lookup)."""
        return self.head(image_id).etag

    def head(self, image_id: str) -> SourceVersion:
        """Key and version from a ``stat``, the file unread (the 304 decision, the render store's lookup)."""
        path = self.path_for(image_id)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
            raise SourceNotFound("no image with that id") from exc
        except OSError as exc:
            if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP):  # a path segment over 255 bytes, a symlink loop
                raise SourceNotFound("no image with that id") from exc
            raise SourceUnavailable("the image store could not be read; try again") from exc
        if not path.is_file():
            raise SourceNotFound("no image with that id")
        return SourceVersion(self.prefix + image_id, self._etag(stat, image_id))

    def list_ids(self) -> list[str]:
        """Ids of the files that look like images (by extension), for listings."""
        base = self.root / self.prefix if self.prefix else self.root
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(base))
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
        )


class S3Source(LazyS3Client):
    """Objects ``prefix + id`` in one bucket. boto3 honours ``AWS_ENDPOINT_URL_S3``."""

    def __init__(self, bucket: str, prefix: str, max_bytes: int, client: Any | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.max_bytes = max_bytes
        self._client = client

    def etag(self, image_id: str) -> str:
        """The object's ETag from a HEAD, without downloading it (the render store's lookup)."""
        return self.head(image_id).etag

    def head(self, image_id: str) -> SourceVersion:
        """Key and ETag from a HEAD, nothing downloaded (the 304 decision, the render store's lookup).

        Faults are sorted as :meth:`get` sorts them, so a HEAD and a GET of one object answer alike.
        """
        key = self.prefix + image_id
        try:
            with s3_errors():
                head = self.client.head_object(Bucket=self.bucket, Key=key)
        except S3Failure as exc:
            raise _source_error(exc) from exc
        return SourceVersion(key, str(head.get("ETag", "")).strip('"'))

    def get(self, image_id: str) -> SourceObject:
        try:
            return read_s3_object(self.client, self.bucket, self.prefix + image_id, self.max_bytes)
        except S3Failure as exc:
            raise _source_error(exc) from exc


def _source_error(exc: S3Failure) -> ThumbError:
    """What a failed read (GET or HEAD) of a source means on ``/th``."""
    if exc.fault is S3Fault.MISSING:
        return SourceNotFound("no image with that id")
    if exc.fault in (S3Fault.DENIED, S3Fault.NO_BUCKET):
        # The template grants s3:ListBucket, so a 403 is a real denial: a misconfiguration.
        log.error("source store refused the read (%s): check the bucket and the function's role", exc.fault)
        return SourceMisconfigured("the image store is misconfigured")
    return SourceUnavailable("the image store is unavailable, try again")


def read_s3_object(client: Any, bucket: str, key: str, max_bytes: int, etag: str | None = None) -> SourceObject:
    """GetObject (with ``If-Match`` when ``etag`` is given), read bounded.

    Raises :class:`~smartthumb.aws.S3Failure` for a failed call or read and
    :class:`SourceTooLarge` (carrying the version's ``etag`` and ``size``,
    for an error sidecar) past ``max_bytes``.
    """
    kwargs = {"Bucket": bucket, "Key": key, **({"IfMatch": f'"{etag}"'} if etag else {})}
    with s3_errors():
        obj = client.get_object(**kwargs)
    body = obj["Body"]
    version = str(obj.get("ETag", "")).strip('"')
    try:
        length = obj.get("ContentLength") or 0
        if length > max_bytes:
            raise SourceTooLarge(f"the source image is larger than {max_bytes} bytes")
        with s3_errors():
            data = read_bounded(body, max_bytes)
    except SourceTooLarge as exc:
        exc.etag = version  # type: ignore[attr-defined]
        exc.size = obj.get("ContentLength")  # type: ignore[attr-defined]
        raise
    finally:
        body.close()
    return SourceObject(key=key, data=data, etag=version, content_type=obj.get("ContentType", ""))


def source_from_settings(settings: Any, client: Any | None = None) -> ImageSource:
    """S3 when ``SOURCE_BUCKET`` is set, else the local folder (``LOCAL_STORE``
    or the built-in samples)."""
    if settings.source_bucket:
        return S3Source(settings.source_bucket, settings.source_prefix, settings.max_source_bytes, client=client)
    root = settings.local_store or str(sample_store_path())
    return LocalFolderSource(root, settings.max_source_bytes, prefix=settings.source_prefix)


def sample_store_path() -> Path:
    """The built-in sample store shipped inside the package."""
    return Path(__file__).with_name("samples")

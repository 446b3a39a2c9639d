"""The render store: every rendered thumbnail kept under a key of (source, its ETag, request, format).

Two stores behind one small interface: S3 (a render bucket or prefix) for
Lambda, a folder for ``smartthumb serve``; the service uses either the same way.

Why the key is what it is. :func:`render_key` is ``<prefix><quoted id>/<digest>``
where the digest (``smartthumb.service.store_digest``) hashes the render
version, the source's ETag, the normalised request, what decides the output
format (the modern formats the client accepts and the deployment allows, and
the limits and default quality that change the output) and, for ``c=7``, the
region. Everything but the region is known before the source is read, so a
hit costs the source's ETag (an S3 HEAD) and the stored object, no download
and no decode of the source. The stored object's type is its ``Content-Type``
(S3) or read from its first bytes (folder); what else the render's response said
(the service's ``meta``: animation kept or first frame, the crop box) is kept
beside it (S3 user metadata, or a ``.meta.json`` file), so a hit answers the same
headers as the render did. So:

* a stale render is never served: an overwritten source has a new ETag,
  hence a new key, and the old object is simply never asked for again;
* the source's delete/overwrite event removes its renders with one prefix
  listing (:meth:`delete_renders`); the id is percent-encoded whole, so the
  prefix of ``a.jpg`` (``a.jpg/``) never covers ``a.jpg/b.png`` (``a.jpg%2Fb.png/``);
* the bucket's lifecycle rule expires whatever is left (renders of a
  rule version or a region that changed).

Why the function reads the store itself rather than a CloudFront origin
group with the store first: the key needs the source's current ETag (and the
sidecar's region for ``c=7``), which the edge cannot know without asking an
origin, so an origin group would have to key on the request alone and could
serve a render of an overwritten source. The function reads the source's
header and the store instead of decoding and encoding (counted in the tests,
timed in ``tests/bench/bench_render.py``).

Outputs over what a Lambda response can carry are written here and answered
with a redirect to :meth:`location` (a CloudFront behaviour on the store's
prefix, or the local server's ``/renders/`` route).

A store failure never fails a request: a failed read renders, a failed write
is logged and the response goes out anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from smartthumb.aws import LazyS3Client

log = logging.getLogger("smartthumb")

#: Signatures of the formats the service writes (the folder store keeps no metadata).
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF8", "image/gif"),
    (8, b"WEBP", "image/webp"),
    (4, b"ftypavif", "image/avif"),
    (4, b"ftypavis", "image/avif"),
)

DEFAULT_PREFIX = "renders/"
#: The folder store's file beside a render holding its ``meta``.
META_SUFFIX = ".meta.json"


@dataclass(frozen=True, slots=True)
class StoredRender:
    key: str
    body: bytes
    content_type: str
    #: What the render's response said besides its body (short ASCII names and values).
    meta: Mapping[str, str] = field(default_factory=dict)


#: Longest percent-encoded id kept as its own folder name; a longer one is named by its hash.
MAX_QUOTED_ID = 200


def source_prefix(prefix: str, image_id: str) -> str:
    """The key prefix under which every render of ``image_id`` lies.

    The id, percent-encoded (so ``/`` cannot nest one id under another), is
    one folder name: past :data:`MAX_QUOTED_ID` bytes it would pass a file
    system's 255-byte name limit, or with the digest S3's 1,024-byte key
    limit (a 1,024-byte id can triple when encoded), and every large output
    of such an id was a 503. Those ids are named ``#`` and their SHA-256
    instead: ``quote`` always escapes ``#``, so no encoded id looks like one.
    """
    quoted = quote(image_id, safe="")
    if len(quoted) > MAX_QUOTED_ID:
        quoted = "#" + hashlib.sha256(image_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}{quoted}/"


def render_key(prefix: str, image_id: str, digest: str) -> str:
    """Key of one render: the source's prefix + the render's hex digest."""
    if not digest or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError(f"a render key needs a hex digest, got {digest!r}")
    return f"{source_prefix(prefix, image_id)}{digest}"


def sniff_content_type(body: bytes) -> str:
    """The media type of an encoded thumbnail, from its first bytes."""
    for offset, magic, content_type in _SIGNATURES:
        if body[offset : offset + len(magic)] == magic:
            return content_type
    return "application/octet-stream"


class RenderStore(Protocol):
    prefix: str

    def get(self, key: str) -> StoredRender | None:
        """The stored render, or None (missing, or the store failed)."""
        ...

    def put(
        self, key: str, body: bytes, content_type: str, cache_control: str, meta: Mapping[str, str] | None = None
    ) -> bool:
        """Store a render (and its ``meta``); False (logged) when the store failed."""
        ...

    def delete_renders(self, image_id: str) -> int:
        """Remove every render of ``image_id``; the number removed."""
        ...

    def location(self, key: str) -> str:
        """Where a client fetches the stored object (the redirect target of an oversized output)."""
        ...


class LocalFolderRenderStore:
    """Renders as files under ``root`` (``smartthumb serve``); the key is the relative path."""

    def __init__(self, root: str | os.PathLike[str], prefix: str = DEFAULT_PREFIX, base_url: str = "/") -> None:
        self.root = Path(root).resolve()
        self.prefix = prefix
        self.base_url = base_url

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"render key outside the store: {key!r}")
        return path

    def get(self, key: str) -> StoredRender | None:
        if key.endswith(META_SUFFIX):
            return None
        try:
            path = self._path(key)
            body = path.read_bytes()
            meta_path = path.with_name(path.name + META_SUFFIX)
            meta = json.loads(meta_path.read_text("utf-8")) if meta_path.is_file() else {}
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        except OSError:
            log.warning("render store read failed", exc_info=True)
            return None
        return StoredRender(key, body, sniff_content_type(body), meta)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        # Written aside and renamed: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def put(
        self, key: str, body: bytes, content_type: str, cache_control: str, meta: Mapping[str, str] | None = None
    ) -> bool:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # The meta first: a reader that finds the render finds its meta too.
            meta_path = path.with_name(path.name + META_SUFFIX)
            if meta:
                self._write(meta_path, json.dumps(dict(meta)).encode("utf-8"))
            else:
                meta_path.unlink(missing_ok=True)
            self._write(path, body)
        except OSError:
            log.warning("render store write failed", exc_info=True)
            return False
        return True

    def delete_renders(self, image_id: str) -> int:
        folder = self._path(source_prefix(self.prefix, image_id))
        removed = 0
        if folder.is_dir():
            for child in folder.iterdir():
                if child.is_file():
                    child.unlink(missing_ok=True)
                    removed += not child.name.endswith(META_SUFFIX)  # renders counted, not their meta
        return removed

    def location(self, key: str) -> str:
        return self.base_url + quote(key, safe="/")  # "%" quoted too: the id's %2F must reach the store as written


class S3RenderStore(LazyS3Client):
    """Renders as objects ``key`` in ``bucket`` (the template's render bucket and prefix)."""

    def __init__(self, bucket: str, prefix: str = DEFAULT_PREFIX, base_url: str = "/", client: Any | None = None):
        self.bucket = bucket
        self.prefix = prefix
        self.base_url = base_url
        self._client = client

    def get(self, key: str) -> StoredRender | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=key)
            body = obj["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") not in ("NoSuchKey", "404", "NotFound"):
                log.warning("render store read failed: %s", exc)
            return None
        except BotoCoreError as exc:
            log.warning("render store read failed: %s", exc)
            return None
        meta = dict(obj.get("Metadata") or {})
        return StoredRender(key, body, obj.get("ContentType") or sniff_content_type(body), meta)

    def put(
        self, key: str, body: bytes, content_type: str, cache_control: str, meta: Mapping[str, str] | None = None
    ) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                CacheControl=cache_control,
                Metadata=dict(meta or {}),  # x-amz-meta-*: a hit answers the render's headers
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("render store write failed: %s", exc)
            return False
        return True

    def delete_renders(self, image_id: str) -> int:
        prefix = source_prefix(self.prefix, image_id)
        removed = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:  # a page holds at most 1000 keys, delete_objects' limit
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                removed += len(keys)
        return removed

    def location(self, key: str) -> str:
        return self.base_url + quote(key, safe="/")  # "%" quoted too: the id's %2F must reach the store as written


def forget_renders(store: RenderStore, image_id: str, metric: Callable[[str, float], None] | None = None) -> int:
    """Delete every render of ``image_id`` (its source was deleted or overwritten): the number
    removed, or -1 when the store failed. A failure is only logged: the renders' keys carry the
    old ETag, so they are never served again, and the lifecycle rule expires them."""
    try:
        removed = store.delete_renders(image_id)
    except Exception as exc:  # boto3/OS errors
        log.warning("could not delete the renders of %r: %s", image_id, exc)
        if metric is not None:
            metric("RenderDeleteFailed", 1)
        return -1
    if removed:
        log.info("%d stored render(s) of %r deleted", removed, image_id)
        if metric is not None:
            metric("RendersDeleted", removed)
    return removed


def render_store_from_settings(settings: Any, client: Any | None = None) -> RenderStore | None:
    """S3 when ``RENDER_BUCKET`` is set, a folder when ``LOCAL_RENDER_STORE`` is, else None (off)."""
    bucket = getattr(settings, "render_bucket", "")
    prefix = getattr(settings, "render_prefix", DEFAULT_PREFIX)
    if bucket:
        return S3RenderStore(bucket, prefix, client=client)
    folder = getattr(settings, "local_render_store", "")
    if folder:
        return LocalFolderRenderStore(folder, prefix)
    return None

"""The one adapter to AWS: clients configured once, and one error classifier.

boto3's defaults (60 s read timeout, legacy retries) outlast a 20-30 s
function timeout, so a stalled S3, SSM or Secrets Manager call would end as a
Lambda timeout instead of a clean 503 or a retried event. Every client here
shares :func:`client_config`. boto3 is imported on first use, so paths that
never touch AWS (the local server, the CLI) do not pay for it.

Every failed S3 call is sorted by :func:`classify` into one :class:`S3Fault`;
callers decide what a fault means for them (a 404, a retry, a superseded
event) from the fault, never from error-code strings of their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

#: Seconds to connect / to wait for a read; attempts including the first.
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 10
MAX_ATTEMPTS = 3


def client_config() -> Any:
    """The botocore ``Config`` every client of this package uses."""
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )


def client(service: str) -> Any:
    """A new client for ``service`` (honours ``AWS_ENDPOINT_URL_<SERVICE>`` like any boto3 client)."""
    import boto3

    return boto3.client(service, config=client_config())


def s3_client() -> Any:
    return client("s3")


def ssm_client() -> Any:
    return client("ssm")


def secrets_client() -> Any:
    return client("secretsmanager")


class LazyS3Client:
    """Mixin: ``self.client`` is the injected ``_client``, or a new
    :func:`s3_client` built on first use (so importing costs no boto3)."""

    _client: Any

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client


# ------------------------------------------------------------------ errors


class S3Fault(StrEnum):
    """What a failed S3 call means, whatever code S3 (or moto, or MinIO) used."""

    MISSING = "missing"  # no such key
    NO_BUCKET = "no-bucket"  # no such bucket: a misconfiguration, not a missing image
    SUPERSEDED = "superseded"  # a condition (If-Match / If-None-Match) failed: someone else wrote
    DENIED = "denied"  # 403: no permission (also a missing key without s3:ListBucket)
    TRANSIENT = "transient"  # throttling, timeouts, 5xx, connection trouble: worth a retry
    PERMANENT = "permanent"  # anything else: retrying cannot help
    UNSUPPORTED = "unsupported"  # the store does not implement the request (conditional delete)


_CODES = {
    **dict.fromkeys(("NoSuchKey", "NotFound", "404"), S3Fault.MISSING),
    "NoSuchBucket": S3Fault.NO_BUCKET,
    **dict.fromkeys(("PreconditionFailed", "ConditionalRequestConflict", "412", "409"), S3Fault.SUPERSEDED),
    **dict.fromkeys(("AccessDenied", "403"), S3Fault.DENIED),
    **dict.fromkeys(
        (
            "SlowDown",
            "Throttling",
            "ThrottledException",
            "RequestLimitExceeded",
            "TooManyRequests",
            "KMS.ThrottlingException",
            "429",
            "ThrottlingException",
            "RequestTimeout",
            "RequestTimeTooSkewed",
            "InternalError",
            "ServiceUnavailable",
            "OperationAborted",
            "500",
            "503",
        ),
        S3Fault.TRANSIENT,
    ),
    "NotImplemented": S3Fault.UNSUPPORTED,
}


def classify(exc: BaseException) -> S3Fault:
    """The fault behind a botocore exception (``ClientError`` or ``BotoCoreError``)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _CODES:
            return _CODES[code]
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return S3Fault.TRANSIENT if int(status) >= 500 or int(status) == 429 else S3Fault.PERMANENT
    if isinstance(exc, BotoCoreError):
        return S3Fault.TRANSIENT
    return S3Fault.PERMANENT


def looks_absent(fault: S3Fault) -> bool:
    """Whether a failed read means "there is no such object".

    Without ``s3:ListBucket`` on a bucket, S3 answers a missing key with 403
    AccessDenied instead of 404; a reader without that permission cannot
    tell the two apart, so both mean "absent" (had the object existed
    unreadably, a conditional write that follows fails safely).
    """
    return fault in (S3Fault.MISSING, S3Fault.DENIED)


class S3Failure(Exception):
    """A failed S3 call, classified; the botocore exception is its ``__cause__``."""

    def __init__(self, fault: S3Fault, detail: str = "") -> None:
        super().__init__(f"{fault.value}: {detail}" if detail else fault.value)
        self.fault = fault
        self.detail = detail


@contextlib.contextmanager
def s3_errors() -> Iterator[None]:
    """Turn any botocore exception raised inside into an :class:`S3Failure`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        response = getattr(exc, "response", None) or {}  # ReadTimeoutError has response=None
        code = str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
        raise S3Failure(classify(exc), code) from exc


def object_has_etag(s3: Any, bucket: str, key: str, etag: str) -> bool:
    """Whether ``bucket/key`` still has ``etag`` (HEAD with If-Match).

    Raises :class:`S3Failure` (``TRANSIENT``) on transient trouble; any other
    failure means "not that version any more".
    """
    try:
        with s3_errors():
            s3.head_object(Bucket=bucket, Key=key, IfMatch=f'"{etag}"')
    except S3Failure as exc:
        if exc.fault is S3Fault.TRANSIENT:
            raise
        return False
    return True

"""boto3 clients with timeouts that fit inside a Lambda invocation.

boto3's defaults (60 s read timeout, legacy retries) outlast a 20-30 s
function timeout, so a stalled S3 read would end as a Lambda timeout instead
of a clean 503 or a retried event. boto3 is imported here, on first use, so
paths that never touch AWS (the local server, the CLI) do not pay for it.
"""

from __future__ import annotations

from typing import Any

#: Seconds to connect / to wait for a read; attempts including the first.
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 10
MAX_ATTEMPTS = 3


def s3_client() -> Any:
    """A new S3 client (honours ``AWS_ENDPOINT_URL_S3`` like any boto3 client)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )
    return boto3.client("s3", config=config)


class LazyS3Client:
    """Mixin: ``self.client`` is the injected ``_client``, or a new
    :func:`s3_client` built on first use (so importing costs no boto3)."""

    _client: Any

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

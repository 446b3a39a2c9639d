"""S3 clients give up well inside a Lambda timeout."""

from __future__ import annotations

from smartthumb import aws
from smartthumb.sources import S3Source


def test_s3_client_has_short_timeouts_and_standard_retries():
    client = aws.s3_client()
    config = client.meta.config
    assert config.connect_timeout == aws.CONNECT_TIMEOUT <= 5
    assert config.read_timeout == aws.READ_TIMEOUT <= 15
    assert config.retries == {"total_max_attempts": aws.MAX_ATTEMPTS, "mode": "standard"}


def test_sources_use_it(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    client = S3Source("bucket", "", 10).client
    assert client.meta.config.read_timeout == aws.READ_TIMEOUT
    assert client.meta.endpoint_url == "http://127.0.0.1:9"

"""AWS clients give up well inside a Lambda timeout; S3 failures are classified once."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from smartthumb import aws
from smartthumb.errors import SourceMisconfigured, SourceNotFound, SourceUnavailable, SourceUnreadable
from smartthumb.ingest import ObjectGone, S3ObjectReader
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


@pytest.mark.parametrize("make", [aws.ssm_client, aws.secrets_client])
def test_ssm_and_secrets_manager_clients_are_bounded_too(make, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    config = make().meta.config
    assert (config.connect_timeout, config.read_timeout) == (aws.CONNECT_TIMEOUT, aws.READ_TIMEOUT)
    assert config.retries == {"total_max_attempts": aws.MAX_ATTEMPTS, "mode": "standard"}


def test_signing_fetches_its_secret_with_the_bounded_client(monkeypatch):
    from smartthumb import signing
    from smartthumb.config import Settings

    made = []

    class FakeSSM:
        def get_parameter(self, Name, WithDecryption):
            return {"Parameter": {"Value": f"secret of {Name}"}}

    monkeypatch.setattr(aws, "ssm_client", lambda: made.append("ssm") or FakeSSM())
    assert signing.load_secret(Settings(signing_secret_parameter="/p")) == "secret of /p"
    assert made == ["ssm"]


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (client_error("NoSuchKey", 404), aws.S3Fault.MISSING),
        (client_error("404", 404), aws.S3Fault.MISSING),
        (client_error("NoSuchBucket", 404), aws.S3Fault.NO_BUCKET),
        (client_error("PreconditionFailed", 412), aws.S3Fault.SUPERSEDED),
        (client_error("ConditionalRequestConflict", 409), aws.S3Fault.SUPERSEDED),
        (client_error("AccessDenied", 403), aws.S3Fault.DENIED),
        (client_error("SlowDown", 503), aws.S3Fault.TRANSIENT),
        (client_error("SomethingNew", 502), aws.S3Fault.TRANSIENT),  # any 5xx
        (client_error("InvalidArgument", 400), aws.S3Fault.PERMANENT),
        (client_error("NotImplemented", 501), aws.S3Fault.UNSUPPORTED),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), aws.S3Fault.TRANSIENT),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), aws.S3Fault.TRANSIENT),
    ],
)
def test_classify(exc, fault):
    assert aws.classify(exc) is fault
    with pytest.raises(aws.S3Failure) as info, aws.s3_errors():
        raise exc
    assert info.value.fault is fault and info.value.__cause__ is exc


def test_a_403_reads_as_absent_only_where_listbucket_may_be_missing():
    assert aws.looks_absent(aws.S3Fault.MISSING) and aws.looks_absent(aws.S3Fault.DENIED)
    assert not any(aws.looks_absent(f) for f in (aws.S3Fault.TRANSIENT, aws.S3Fault.SUPERSEDED, aws.S3Fault.PERMANENT))


class RaisingS3:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def get_object(self, **kwargs):
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("AccessDenied", 403), SourceMisconfigured),  # the template grants ListBucket: a real denial
        (client_error("NoSuchKey", 404), SourceNotFound),
        (client_error("SlowDown", 503), SourceUnavailable),
        (client_error("InvalidArgument", 400), SourceUnavailable),
    ],
)
def test_source_maps_faults(exc, expected):
    with pytest.raises(expected):
        S3Source("bucket", "", 10, client=RaisingS3(exc)).get("a.jpg")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("AccessDenied", 403), SourceUnreadable),  # permanent: an error sidecar (issue 11)
        (client_error("PreconditionFailed", 412), ObjectGone),
        (client_error("InternalError", 500), SourceUnavailable),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), SourceUnavailable),
    ],
)
def test_ingest_reader_maps_faults(exc, expected):
    with pytest.raises(expected):
        S3ObjectReader(10, client=RaisingS3(exc)).fetch("bucket", "a.jpg", "etag")

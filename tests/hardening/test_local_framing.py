"""The local server's request framing: a body length it cannot trust is a 400
(over the cap a 413), answered without reading the body, and the connection
closed; the preview page is off when signing is on."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from smartthumb.local_server import MAX_LOCAL_BODY, BadFraming, body_length, make_server


@pytest.fixture
def server() -> Iterator[tuple[str, int, list[dict]]]:
    seen: list[dict] = []

    def invoke(event: dict, context: object) -> dict:
        seen.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}

    srv = make_server(invoke, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_address[0], srv.server_address[1], seen
    finally:
        srv.shutdown()
        srv.server_close()


def _exchange(address: tuple[str, int], raw: bytes) -> bytes:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize(
    "length_header",
    [
        b"Content-Length: -1",
        b"Content-Length: abc",
        b"Content-Length: +5",
        b"Content-Length: 0x10",
        b"Content-Length: 5\r\nContent-Length: 5",
        b"Transfer-Encoding: chunked",
    ],
    ids=["minus-one", "non-numeric", "plus-sign", "hex", "repeated", "chunked"],
)
def test_untrusted_body_lengths_are_400_and_never_dispatched(server, length_header: bytes) -> None:
    host, port, seen = server
    body = b"5\r\nhello\r\n0\r\n\r\n" + b"x" * 4096
    reply = _exchange((host, port), b"POST /th HTTP/1.1\r\nHost: x\r\n" + length_header + b"\r\n\r\n" + body)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert reply.count(b"HTTP/1.1 ") == 1  # the body was not taken for a second request
    assert seen == []


def test_a_body_over_the_cap_is_413_unread(server) -> None:
    host, port, seen = server
    reply = _exchange(
        (host, port), f"POST /th HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_LOCAL_BODY + 1}\r\n\r\n".encode()
    )
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert seen == []


def test_a_plain_body_still_reaches_the_handler(server) -> None:
    host, port, seen = server
    reply = _exchange(
        (host, port), b"POST /th HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    )
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert len(seen) == 1 and seen[0]["body"] == "aGVsbG8="


def test_body_length_rules() -> None:
    assert body_length({}) == 0
    assert body_length({"Content-Length": " 12 "}) == 12
    for bad in ("-1", "", "1e3", "١٢"):  # the last: Arabic-Indic digits, which int() would accept
        with pytest.raises(BadFraming):
            body_length({"Content-Length": bad})
    with pytest.raises(BadFraming) as caught:
        body_length({"Content-Length": "11"}, limit=10)
    assert caught.value.status == 413


def test_the_preview_page_is_off_when_signing_is_on(tmp_path) -> None:
    import os
    import urllib.error
    import urllib.request

    from tests.conftest import SAMPLES, serve_subprocess

    env = {**os.environ, "SIGNING_SECRET": "framing-test-secret", "LOCAL_ANALYSIS_STORE": str(tmp_path / "sc")}
    with serve_subprocess(SAMPLES, env) as base:
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(base + "/", timeout=10)
        assert caught.value.code == 404
        unsigned = base + "/th?id=coffee.jpg&w=50"
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(unsigned, timeout=10)
        assert caught.value.code == 403

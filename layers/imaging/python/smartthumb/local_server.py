"""``smartthumb serve``: the HTTP API on localhost, no AWS account needed.

Each HTTP request becomes an API Gateway HTTP API (payload v2.0) event and
goes through the same resolver the Lambda function runs; the response dict is
written back as HTTP. Only the transport is local.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

log = logging.getLogger("smartthumb.serve")

#: Request bodies larger than this are refused before reading (the Azure
#: endpoint caps images well below it).
MAX_LOCAL_BODY = 32 * 1024 * 1024
#: Seconds a connection may stay silent (a body shorter than its Content-Length
#: would otherwise hold a thread forever).
SOCKET_TIMEOUT_S = 30
_DIGITS = re.compile(r"[0-9]{1,15}")


class BadFraming(Exception):
    """A request whose body length cannot be trusted: answered 400 (or 413) and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def body_length(headers: Mapping[str, str] | Any, limit: int = MAX_LOCAL_BODY) -> int:
    """The body length a request declares, or :class:`BadFraming`.

    Only one plain decimal ``Content-Length`` is accepted (not ``-1``, ``+5``,
    ``5, 5`` or ``0x10``); ``Transfer-Encoding`` (chunked bodies) is refused
    rather than ignored, since reading it as an empty body would leave its
    bytes to be parsed as the next request. Over ``limit``: 413, unread.
    """
    if headers.get("Transfer-Encoding") is not None:
        raise BadFraming(400, "chunked request bodies are not supported; send Content-Length")
    values = headers.get_all("Content-Length") if hasattr(headers, "get_all") else None
    if values is None:
        raw = headers.get("Content-Length")
        values = [] if raw is None else [raw]
    if len(values) > 1:
        raise BadFraming(400, "more than one Content-Length")
    if not values:
        return 0
    raw = values[0].strip()
    if not _DIGITS.fullmatch(raw):
        raise BadFraming(400, "Content-Length must be a non-negative decimal integer")
    length = int(raw)
    if length > limit:
        raise BadFraming(413, "request body too large")
    return length


@dataclass
class LocalContext:
    """What a handler reads from Lambda's context object."""

    timeout_ms: int = 30_000
    function_name: str = "smartthumb-local"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:smartthumb-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.timeout_ms - (time.monotonic() - self._started) * 1000))


def http_api_event(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes = b"",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """Shape an HTTP request as API Gateway's HTTP API payload v2.0."""
    # Not urlsplit: a request target such as '//computervision/...' (the Azure SDK
    # sends one for an endpoint ending in '/') would be read as a host name.
    path, _, query = target.partition("#")[0].partition("?")
    joined: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        # API Gateway joins repeated parameters with commas.
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    lower = {k.lower(): v for k, v in headers.items()}
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path or "/",
        "rawQueryString": query,
        "headers": lower,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lower.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lower.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": bool(body),
    }
    if joined:
        event["queryStringParameters"] = joined
    if body:
        event["body"] = base64.b64encode(body).decode("ascii")
    return event


Invoke = Callable[[dict[str, Any], LocalContext], dict[str, Any]]


def make_handler_class(invoke: Invoke) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "smartthumb-local"
        protocol_version = "HTTP/1.1"
        timeout = SOCKET_TIMEOUT_S

        def _dispatch(self) -> None:
            try:
                length = body_length(self.headers)
            except BadFraming as exc:
                # The body's end is unknown (or it is not read): close the connection after answering.
                self.close_connection = True
                self.send_error(exc.status, exc.message)
                return
            body = self.rfile.read(length) if length else b""
            if len(body) < length:  # the client closed mid-body
                self.close_connection = True
                return
            event = http_api_event(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
            result = invoke(event, LocalContext())
            self._write(result)

        def _write(self, result: Mapping[str, Any]) -> None:
            raw = result.get("body") or ""
            payload = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
            status = int(result.get("statusCode", 200))
            self.send_response(status)
            headers = dict(result.get("headers") or {})
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, str(value))
            for name, values in (result.get("multiValueHeaders") or {}).items():
                for value in values:
                    self.send_header(name, str(value))
            for cookie in result.get("cookies") or []:
                self.send_header("Set-Cookie", cookie)
            self.send_header("Content-Length", str(0 if status == 304 else len(payload)))
            self.end_headers()
            if self.command != "HEAD" and status != 304:
                self.wfile.write(payload)

        # Every method reaches the app, which answers the ones it has no route for with its JSON 404/405.
        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return Handler


def make_server(invoke: Invoke, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    # Connections are accepted in threads, but events are handled one at a time,
    # as one Lambda container does: the Powertools resolver keeps the current
    # event on itself, so two concurrent resolves would answer each other's requests.
    lock = threading.Lock()

    def one_at_a_time(event: dict[str, Any], context: LocalContext) -> dict[str, Any]:
        with lock:
            return invoke(event, context)

    server = ThreadingHTTPServer((host, port), make_handler_class(one_at_a_time))
    server.daemon_threads = True
    return server

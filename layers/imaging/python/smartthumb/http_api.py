"""The HTTP API (payload v2.0) as a Powertools resolver.

The Lambda handler (``functions/thumbnail/app.py``) and the local server
(``smartthumb serve``) both call :func:`build_app`'s resolver with an HTTP API
v2 event, so routes, validation and error mapping have one code path.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from smartthumb import client_hints
from smartthumb.accept import accepted_formats
from smartthumb.cache_policy import bounded_cache_control
from smartthumb.config import Settings
from smartthumb.errors import ThumbError
from smartthumb.render_store import LocalFolderRenderStore
from smartthumb.request import parse_query_string, parse_th
from smartthumb.service import ThumbnailService
from smartthumb.signing import EXP, query_pairs, verifier_from_settings

log = logging.getLogger("smartthumb")

JSON = "application/json"


def json_error(status: int, body: dict[str, Any], extra_headers: dict[str, str] | None = None) -> Response:
    headers = {"Cache-Control": "no-store"}
    if status in (429, 503):
        headers["Retry-After"] = "1"
    headers.update(extra_headers or {})
    return Response(status_code=status, content_type=JSON, body=json.dumps(body), headers=headers)


def error_response(status: int, code: str, message: str, extra_headers: dict[str, str] | None = None) -> Response:
    return json_error(status, {"error": {"code": code, "message": message}}, extra_headers)


def thumb_error_response(exc: ThumbError) -> Response:
    return json_error(exc.status, exc.to_body())


def _header(app: APIGatewayHttpResolver, name: str) -> str | None:
    headers = app.current_event.headers or {}
    return headers.get(name.lower()) or headers.get(name)


def _remaining_ms(app: APIGatewayHttpResolver) -> int | None:
    context = getattr(app, "lambda_context", None)
    getter: Callable[[], int] | None = getattr(context, "get_remaining_time_in_millis", None)
    if getter is None:
        return None
    try:
        return int(getter())
    except (TypeError, ValueError):
        return None


def register_render_route(app: APIGatewayHttpResolver, store: LocalFolderRenderStore) -> None:
    """``GET /<prefix>...``: stored renders from a folder store (``smartthumb serve``), where a
    redirect for an oversized thumbnail points. On AWS, CloudFront serves that path from the bucket."""
    pattern = "/" + re.escape(store.prefix) + ".+"

    @app.route(pattern, method=["GET", "HEAD"])  # HEAD: the same headers (the local server sends no body)
    def stored_render() -> Response:
        key = unquote(app.current_event.path.removeprefix("/"))
        stored = store.get(key)
        if stored is None:
            return error_response(404, "NotFound", "no stored render at this path")
        return Response(
            status_code=200,
            content_type=stored.content_type,
            body=stored.body,
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )


def build_app(
    settings: Settings,
    service: ThumbnailService,
    *,
    on_metric: Callable[[str, float], None] | None = None,
) -> APIGatewayHttpResolver:
    """Routes of the thumbnail API. ``on_metric(name, value)`` records counts."""
    app = APIGatewayHttpResolver()
    verifier = verifier_from_settings(settings)  # off unless a signing secret is configured

    def metric(name: str, value: float = 1) -> None:
        if on_metric is not None:
            on_metric(name, value)

    @app.head("/th")
    def thumbnail_head() -> Response:
        """HEAD /th: the status and headers a GET would get, without the body (RFC 9110 §9.3.2)."""
        try:
            response = thumbnail()
        except ThumbError as exc:
            metric(f"Error{exc.status}")
            response = thumb_error_response(exc)
        response.body = ""
        return response

    @app.get("/th")
    def thumbnail() -> Response:
        raw_query = app.current_event.raw_query_string or ""
        pairs = query_pairs(raw_query)
        verifier.verify(pairs)  # 403 before any parameter is looked at
        params = parse_query_string(raw_query)
        hints = client_hints.Hints()
        if settings.enable_client_hints:  # never with signing on (Settings refuses it)
            params, hints = client_hints.apply(
                params,
                _header(app, client_hints.DPR_HEADER),
                _header(app, client_hints.WIDTH_HEADER),
                max_dimension=settings.max_dimension,
                max_dpr=settings.max_dpr,
            )
        request = parse_th(params, settings)
        result = service.thumbnail(
            request,
            accepted=accepted_formats(_header(app, "accept")),
            if_none_match=_header(app, "if-none-match"),
            remaining_ms=_remaining_ms(app),
        )
        # A signed URL with 'exp' is never cached past it (SIGNING.md).
        expires_at = next((int(v) for k, v in pairs if k == EXP), None) if verifier.enabled else None
        cache_control = bounded_cache_control(result.cache_control, expires_at, time.time())
        headers = {"ETag": result.etag, "Cache-Control": cache_control}
        vary = (("Accept",) if result.vary_accept else ()) + hints.consulted
        if vary:
            headers["Vary"] = ", ".join(vary)
        if settings.enable_client_hints:
            headers["Accept-CH"] = client_hints.ACCEPT_CH
        if result.region_origin:
            headers["X-Smartthumb-Region"] = result.region_origin
        if result.crop is not None:
            c = result.crop
            headers["X-Smartthumb-Crop"] = f"{c.x},{c.y},{c.w},{c.h}"
        headers.update(result.headers)
        if result.location is not None:
            # Over what a Lambda response carries: the stored render, one redirect away.
            metric("Redirected")
            return Response(status_code=307, headers={**headers, "Location": result.location}, body="")
        if result.body is None:
            metric("NotModified")
            return Response(status_code=304, headers=headers, body="")
        metric("Rendered")
        return Response(status_code=200, content_type=result.content_type, body=result.body, headers=headers)

    if isinstance(service.store, LocalFolderRenderStore):
        register_render_route(app, service.store)

    @app.exception_handler(ThumbError)
    def handle_thumb_error(exc: ThumbError) -> Response:
        log.info("request refused: %s %s", exc.code, exc.message)
        metric(f"Error{exc.status}")
        if exc.status >= 500:
            metric(exc.code)  # SourceMisconfigured, SourceUnavailable, ...: each alarmable on its own
        return thumb_error_response(exc)

    @app.exception_handler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        # A bug, not a client error: log it whole, answer without internals.
        log.exception("unexpected error")
        metric("Error500")
        return error_response(500, "InternalError", "the thumbnail could not be produced")

    @app.not_found
    def not_found(exc: Exception) -> Response:
        return error_response(404, "RouteNotFound", "no such route; thumbnails are served from GET /th")

    return app

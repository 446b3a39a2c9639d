"""Azure AI Vision 4.0 compatible routes on the thumbnail API.

``POST /computervision/imageanalysis:analyze`` answers smart-crop requests the
way Azure does, so clients built on the official Image Analysis SDK
(``azure-ai-vision-imageanalysis``) work by changing only their endpoint.
``GET /analysis?id=...`` returns the stored (or freshly computed) sidecar's
Azure result for an image of the store.

The SDK doubles the ``/`` after an endpoint ending in ``/``: the route
accepts any number of leading slashes. Errors are Azure's
``{"error": {"code", "message", "innererror"}}`` with the top-level code also
in the ``x-ms-error-code`` header (the SDK reads it into
``HttpResponseError.error_code``), and ``Retry-After`` on 429/503. Parsing is
:mod:`.request`'s, the answer and the errors :mod:`.contract`'s, the analysis
the :class:`~smartthumb.sidecars.AnalysisCache`'s.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from smartthumb.azure import contract, request
from smartthumb.azure.auth import ANALYSIS_PATH, AzureKey
from smartthumb.azure.contract import AzureError
from smartthumb.config import Settings
from smartthumb.errors import SourceNotFound, ThumbError
from smartthumb.focus import analysis_document
from smartthumb.sidecars import AnalysisCache
from smartthumb.signing import query_pairs, verifier_from_settings
from smartthumb.sources import ImageSource

log = logging.getLogger("smartthumb.azure")

#: Route rule. Powertools compiles a rule as a regular expression (only
#: ``<name>`` is special to it), so ``/+`` accepts the SDK's doubled slash.
ANALYZE_ROUTE = "/+computervision/imageanalysis:analyze"
#: How long ``GET /analysis`` waits for an on-demand analysis before a 503.
ANALYSIS_WAIT_MS = 20_000
#: What Lambda keeps to answer after waiting.
ANSWER_RESERVE_MS = 1500


def azure_response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    return Response(status_code=status, content_type=request.JSON, body=json.dumps(body), headers=all_headers)


def error_response(exc: AzureError) -> Response:
    headers = {"x-ms-error-code": exc.code}
    if exc.status in (429, 503):
        headers["Retry-After"] = "1"
    return azure_response(exc.status, exc.to_body(), headers)


def register_azure_routes(
    app: APIGatewayHttpResolver,
    settings: Settings,
    *,
    source: ImageSource,
    cache: AnalysisCache,
    on_metric: Callable[[str, float], None] | None = None,
) -> None:
    """Add the Azure-compatible routes to ``app`` (who may call them: :mod:`.auth`)."""
    key = AzureKey(settings)
    verifier = verifier_from_settings(settings)  # off unless signing is on

    def metric(name: str) -> None:
        if on_metric is not None:
            on_metric(name, 1)

    def header(name: str) -> str | None:
        headers = app.current_event.headers or {}
        return headers.get(name.lower()) or headers.get(name)

    def answering(route: Callable[[], Response], *, count: bool, analyze: bool) -> Callable[[], Response]:
        """The one error wrapper: every failure becomes Azure's error body."""

        def wrapped() -> Response:
            try:
                if not analyze:  # GET /analysis: signed like /th when signing is on (403)
                    verifier.verify(query_pairs(app.current_event.raw_query_string or ""), ANALYSIS_PATH)
                key.check(header("ocp-apim-subscription-key"), analyze=analyze)
                return route()
            except AzureError as exc:
                err = exc
            except ThumbError as exc:
                err = contract.from_thumb_error(exc)
            except Exception:
                log.exception("azure route: unexpected error")
                err = contract.internal_error()
            if count:
                metric(f"AzureError{err.status}")
            return error_response(err)

        return wrapped

    def analyze() -> Response:
        ratios = request.analyze_ratios(app.current_event.raw_query_string or "")
        event = app.current_event.raw_event
        base64 = bool(event.get("isBase64Encoded"))
        body = request.image_input(event.get("body"), base64, header("content-type"), settings)
        data = body.data
        if body.image_id is not None:
            try:
                obj = source.get(body.image_id)
            except SourceNotFound as exc:
                message = "The image URL names no object of the source bucket."
                raise contract.invalid("InvalidImageUrl", message) from exc
            stored = cache.current(obj)
            answer = None
            if stored is not None and stored.ok:
                answer = contract.pick_ratios(stored.azure if ratios else stored.azure_automatic, ratios)
            if answer is not None:
                metric("AzureFromSidecar")
                return azure_response(200, answer, {"X-Smartthumb-Analysis": "sidecar"})
            data = obj.data
        assert data is not None
        result = contract.smart_crops_answer(cache.analyse_bytes(data, ratios))
        metric("AzureAnalysed")
        return azure_response(200, result, {"X-Smartthumb-Analysis": "computed"})

    def analysis() -> Response:
        obj = source.get(request.analysis_id(app.current_event.raw_query_string or ""))
        stored, origin = cache.current(obj), "sidecar"
        if stored is None:
            stored, origin = cache.compute(obj, wait_budget_ms(app)), "computed"
            if stored is None:
                raise contract.analysis_pending()
        if not stored.ok:
            raise contract.from_recorded_error(stored.error or {})
        # The Azure answer plus the deciding region, its origin and the faces (smartthumb.focus).
        document = analysis_document(stored)
        return azure_response(200, document, {"X-Smartthumb-Analysis": origin, "ETag": f'"{obj.etag}"'})

    app.post(ANALYZE_ROUTE)(answering(analyze, count=True, analyze=True))
    app.get("/analysis")(answering(analysis, count=False, analyze=False))


def wait_budget_ms(app: APIGatewayHttpResolver) -> int:
    """At most :data:`ANALYSIS_WAIT_MS`, leaving Lambda :data:`ANSWER_RESERVE_MS` to answer."""
    getter = getattr(getattr(app, "lambda_context", None), "get_remaining_time_in_millis", None)
    try:
        remaining = int(getter()) if getter is not None else ANALYSIS_WAIT_MS
    except (TypeError, ValueError):
        remaining = ANALYSIS_WAIT_MS
    return max(0, min(ANALYSIS_WAIT_MS, remaining - ANSWER_RESERVE_MS))

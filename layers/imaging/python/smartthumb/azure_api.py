"""Azure AI Vision 4.0 compatible routes on the thumbnail API.

``POST /computervision/imageanalysis:analyze`` answers smart-crop requests the
way Azure does, so clients built on the official Image Analysis SDK
(``azure-ai-vision-imageanalysis``) work by changing only their endpoint.
``GET /analysis?id=...`` returns the stored (or freshly computed) sidecar's
Azure result for an image of the store.

Compatibility details that matter to real clients:

* query parameter names match case-insensitively (``Features``,
  ``smartCrops-Aspect-Ratios``), as Azure's front door does;
* the SDK doubles the ``/`` after an endpoint ending in ``/``: the route
  accepts any number of leading slashes;
* errors are Azure's ``{"error": {"code", "message", "innererror"}}`` with the
  top-level code also in the ``x-ms-error-code`` header (the SDK reads it
  into ``HttpResponseError.error_code``), and ``Retry-After`` on 429/503;
* a JSON ``{"url": ...}`` body is accepted only when it names an object of
  the source bucket (``s3://bucket/key`` or an S3 HTTPS URL of it), read with
  this service's own S3 access: arbitrary URLs are never fetched.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from smartthumb.analysis.azure import AzureError, parse_aspect_ratios
from smartthumb.config import Settings
from smartthumb.errors import InvalidParameter, SourceNotFound, ThumbError
from smartthumb.request import validate_id
from smartthumb.sidecars import AnalyzeFn, Sidecar, SidecarRegionProvider
from smartthumb.sources import ImageSource, SourceObject

log = logging.getLogger("smartthumb.azure")

JSON = "application/json"
SUPPORTED_FEATURES = ("smartcrops",)
#: Route rule. Powertools compiles a rule as a regular expression (only
#: ``<name>`` is special to it), so ``/+`` accepts the SDK's doubled slash.
ANALYZE_ROUTE = "/+computervision/imageanalysis:analyze"
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
#: How long ``GET /analysis`` waits for an on-demand analysis before a 503.
ANALYSIS_WAIT_MS = 20_000

ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)


def azure_response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    return Response(status_code=status, content_type=JSON, body=json.dumps(body), headers=all_headers)


def error_response(exc: AzureError, retry_after: int | None = None) -> Response:
    headers = {"x-ms-error-code": exc.code}
    if exc.status in (429, 503):
        headers["Retry-After"] = str(retry_after or 1)
    return azure_response(exc.status, exc.to_body(), headers)


def invalid(inner_code: str, inner_message: str, message: str = "Analyze query is invalid.") -> AzureError:
    return AzureError(400, "InvalidRequest", message, inner_code, inner_message)


def from_thumb_error(exc: ThumbError) -> AzureError:
    """Our error family in Azure's words (inner codes as Azure AI Vision uses them)."""
    if exc.code == "UnsupportedImage":
        return invalid("InvalidImageFormat", "Input data is not a valid image.", "Image format is not valid.")
    if exc.code in ("SourceTooLarge", "OutputTooLarge"):
        return invalid("InvalidImageSize", exc.message, "Image size is not allowed.")
    if exc.code == "NotFound":
        return AzureError(404, "NotFound", exc.message, "NotFound", exc.message)
    if exc.status in (429, 503):
        return AzureError(exc.status, "ServiceUnavailable", exc.message, exc.code, exc.message)
    if 400 <= exc.status < 500:
        return invalid("BadArgument", exc.message)
    return AzureError(500, "InternalServerError", "The analysis failed.", "InternalServerError", exc.code)


def lower_query(raw_query: str) -> dict[str, str]:
    """Query names folded to lower case; repeated names joined with commas."""
    out: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        name = key.strip().lower()
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def check_features(raw: str | None) -> None:
    if raw is None or not raw.strip():
        raise invalid("BadArgument", "The 'features' query parameter is required; this service supports 'smartCrops'.")
    for feature in (f.strip() for f in raw.split(",")):
        if feature.lower() not in SUPPORTED_FEATURES:
            raise invalid(
                "NotSupportedFeature",
                f"Feature '{feature}' is not supported by this service; only 'smartCrops' is.",
            )


def check_api_version(raw: str | None) -> None:
    if raw is None or not raw.strip():
        raise invalid("BadArgument", "The 'api-version' query parameter is required, e.g. api-version=2023-10-01.")
    if not _API_VERSION.match(raw.strip()):
        raise invalid("BadArgument", f"'api-version' {raw[:40]!r} is not a valid API version, e.g. 2023-10-01.")


def source_id_for_url(url: Any, settings: Settings) -> str:
    """The image id named by ``url`` if it is an object of the source bucket, else a 400.

    Accepted: ``s3://BUCKET/KEY``, ``https://BUCKET.s3[.REGION].amazonaws.com/KEY``
    and ``https://s3[.REGION].amazonaws.com/BUCKET/KEY`` with ``KEY`` under
    ``SOURCE_PREFIX``. Nothing is fetched from the URL itself.
    """
    refused = invalid(
        "InvalidImageUrl",
        "Only images of this service's source bucket can be analysed by URL (s3://bucket/key or its S3 HTTPS URL).",
        "Image URL is not allowed.",
    )
    bucket = settings.source_bucket
    if not isinstance(url, str) or not bucket or len(url) > 4096:
        raise refused
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    path = unquote(parts.path)
    key: str | None = None
    if parts.scheme == "s3" and host == bucket.lower():
        key = path[1:]
    elif parts.scheme == "https" and host.endswith(".amazonaws.com") and not parts.query:
        labels = host.split(".")
        if host.startswith(bucket.lower() + ".s3"):
            key = path[1:]
        elif labels[0] == "s3" or labels[0].startswith("s3-"):
            first, _, rest = path[1:].partition("/")
            key = rest if first == bucket else None
    if not key or not key.startswith(settings.source_prefix):
        raise refused
    try:
        return validate_id(key[len(settings.source_prefix) :])
    except InvalidParameter as exc:
        raise refused from exc


def from_sidecar(sidecar: Sidecar, ratios: list[float]) -> dict[str, Any] | None:
    """The answer for ``ratios`` from a stored sidecar, when it holds every ratio asked."""
    if not sidecar.ok:
        return None
    stored = sidecar.azure if ratios else sidecar.azure_automatic
    if stored is None:
        return None
    if not ratios:
        return stored
    values = stored.get("smartCropsResult", {}).get("values", [])
    picked = []
    for ratio in ratios:
        match = next((v for v in values if math.isclose(float(v.get("aspectRatio", 0)), ratio)), None)
        if match is None:
            return None
        picked.append({"aspectRatio": ratio, "boundingBox": match["boundingBox"]})
    return {**stored, "smartCropsResult": {"values": picked}}


def _body(event: Mapping[str, Any]) -> tuple[int, str]:
    raw = event.get("body") or ""
    return len(raw), raw


def register_azure_routes(
    app: APIGatewayHttpResolver,
    settings: Settings,
    *,
    source: ImageSource,
    sidecars: SidecarRegionProvider | None = None,
    analyze: AnalyzeFn | None = None,
    on_metric: Callable[[str, float], None] | None = None,
) -> None:
    """Add the Azure-compatible routes to ``app``."""

    def metric(name: str) -> None:
        if on_metric is not None:
            on_metric(name, 1)

    def run_analysis(data: bytes, ratios: list[float]) -> dict[str, Any]:
        fn = analyze
        if fn is None:
            from smartthumb.analysis.analyzer import analyze_image as fn  # deferred: numpy + onnxruntime
        return fn(data, ratios or None, settings).to_azure()

    def wait_budget_ms() -> int:
        """At most :data:`ANALYSIS_WAIT_MS`, leaving Lambda 1.5 s to answer."""
        getter = getattr(getattr(app, "lambda_context", None), "get_remaining_time_in_millis", None)
        try:
            remaining = int(getter()) if getter is not None else ANALYSIS_WAIT_MS
        except (TypeError, ValueError):
            remaining = ANALYSIS_WAIT_MS
        return max(0, min(ANALYSIS_WAIT_MS, remaining - 1500))

    def header(name: str) -> str | None:
        headers = app.current_event.headers or {}
        return headers.get(name.lower()) or headers.get(name)

    def check_key() -> None:
        if not settings.azure_api_key:
            return
        given = header("ocp-apim-subscription-key") or ""
        if not hmac.compare_digest(given.encode(), settings.azure_api_key.encode()):
            raise AzureError(401, "401", ACCESS_DENIED, "401", ACCESS_DENIED)

    def image_bytes(event: Mapping[str, Any]) -> tuple[bytes | None, str | None]:
        """The request's image bytes, or the source id a JSON ``url`` names."""
        length, raw = _body(event)
        cap = settings.azure_max_body_bytes
        too_big = invalid(
            "InvalidImageSize",
            f"The image is larger than this service's limit of {cap} bytes.",
            "Image size is too big.",
        )
        if event.get("isBase64Encoded"):
            if length * 3 // 4 > cap + 3:
                raise too_big
            try:
                data = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise invalid("InvalidImageFormat", "The request body is not valid base64.") from exc
        else:
            data = raw.encode("utf-8", "surrogateescape")
        if len(data) > cap:
            raise too_big
        content_type = (header("content-type") or "").split(";")[0].strip().lower()
        if content_type == JSON or content_type.endswith("+json"):
            try:
                doc = json.loads(data)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise invalid("InvalidImageUrl", 'The JSON body must be {"url": "..."}.') from exc
            url = doc.get("url") if isinstance(doc, dict) else None
            return None, source_id_for_url(url, settings)
        if not data:
            raise invalid("InvalidImageSize", "The request body is empty; send the image bytes.", "Image is empty.")
        return data, None

    @app.post(ANALYZE_ROUTE)
    def analyze_route() -> Response:
        try:
            check_key()
            params = lower_query(app.current_event.raw_query_string or "")
            check_api_version(params.get("api-version"))
            check_features(params.get("features"))
            ratios = parse_aspect_ratios(params.get("smartcrops-aspect-ratios"))
            data, image_id = image_bytes(app.current_event.raw_event)
            headers: dict[str, str] = {}
            if image_id is not None:
                obj = source.get(image_id)
                stored = sidecars.current(obj) if sidecars is not None else None
                answer = from_sidecar(stored, ratios) if stored is not None else None
                if answer is not None:
                    metric("AzureFromSidecar")
                    return azure_response(200, answer, {"X-Smartthumb-Analysis": "sidecar"})
                data = obj.data
            assert data is not None
            result = run_analysis(data, ratios)
            headers["X-Smartthumb-Analysis"] = "computed"
            metric("AzureAnalysed")
            return azure_response(200, result, headers)
        except AzureError as exc:
            metric(f"AzureError{exc.status}")
            return error_response(exc)
        except SourceNotFound:
            metric("AzureError400")
            return error_response(invalid("InvalidImageUrl", "The image URL names no object of the source bucket."))
        except ThumbError as exc:
            err = from_thumb_error(exc)
            metric(f"AzureError{err.status}")
            return error_response(err)
        except Exception:
            log.exception("azure analyze: unexpected error")
            metric("AzureError500")
            return error_response(
                AzureError(
                    500, "InternalServerError", "The analysis failed.", "InternalServerError", "unexpected error"
                )
            )

    @app.get("/analysis")
    def analysis_route() -> Response:
        try:
            check_key()
            params = lower_query(app.current_event.raw_query_string or "")
            try:
                image_id = validate_id(params.get("id"))
            except InvalidParameter as exc:
                raise invalid("BadArgument", exc.message) from exc
            obj: SourceObject = source.get(image_id)
            if sidecars is None:
                return azure_response(200, run_analysis(obj.data, list(settings.smartcrop_aspect_ratios)))
            stored = sidecars.current(obj)
            origin = "sidecar"
            if stored is None:
                stored = sidecars.compute(obj, wait_budget_ms())
                origin = "computed"
                if stored is None:
                    raise AzureError(
                        503,
                        "ServiceUnavailable",
                        "The analysis is not ready yet; retry shortly.",
                        "AnalysisPending",
                        "The analysis of this image is still running.",
                    )
            if not stored.ok:
                raise from_thumb_error(_stored_error(stored.error or {}))
            body = dict(stored.azure or {})
            placeholder = (stored.analysis or {}).get("placeholder")
            if isinstance(placeholder, dict):  # lazy-loading placeholder: {"blurhash", "color"}
                body["placeholder"] = placeholder
            return azure_response(200, body, {"X-Smartthumb-Analysis": origin, "ETag": f'"{obj.etag}"'})
        except AzureError as exc:
            return error_response(exc)
        except ThumbError as exc:
            return error_response(from_thumb_error(exc))
        except Exception:
            log.exception("analysis: unexpected error")
            return error_response(
                AzureError(
                    500, "InternalServerError", "The analysis failed.", "InternalServerError", "unexpected error"
                )
            )


def _stored_error(error: Mapping[str, Any]) -> ThumbError:
    """Rebuild the recorded failure of a sidecar as an error of our family."""
    exc = ThumbError(str(error.get("message") or "analysis failed"))
    exc.code = str(error.get("code") or "UnsupportedImage")
    status = error.get("status")
    exc.status = status if isinstance(status, int) else 415
    return exc

"""Parsing an Azure smart-crops request: pure functions, testable without events.

Every refusal is an :class:`~smartthumb.azure.contract.AzureError` in Azure's
words. Compatibility details that matter to real clients:

* query parameter names match case-insensitively (``Features``,
  ``smartCrops-Aspect-Ratios``), as Azure's front door does;
* ``smartcrops-aspect-ratios`` is a comma-separated list of decimals, each in
  [0.75, 1.8]; empty or absent means "one automatic crop". The inner message
  for an out-of-range value is Azure's documented text, the one for an
  unparsable value is ours (Azure's wording for it is not documented);
* a JSON ``{"url": ...}`` body is accepted only when it names an object of
  the source bucket (``s3://bucket/key`` or an S3 HTTPS URL of it): arbitrary
  URLs are never fetched.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from smartthumb.azure.contract import RANGE_MESSAGE, AzureError, invalid
from smartthumb.config import Settings
from smartthumb.errors import InvalidParameter
from smartthumb.request import validate_id

MIN_RATIO = 0.75
MAX_RATIO = 1.8
MALFORMED_MESSAGE = "'smartcrops-aspect-ratios' must be comma-separated decimal numbers"
SUPPORTED_FEATURES = ("smartcrops",)
JSON = "application/json"

# A plain decimal: optional sign, digits with an optional fraction, or a
# leading-dot fraction. A signed or huge value parses and is then out of range.
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")

ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)


def parse_aspect_ratios(raw: str | None) -> list[float]:
    """Ratios in request order (duplicates kept); ``[]`` for an absent or blank value."""
    if raw is None or not raw.strip():
        return []
    ratios: list[float] = []
    for part in raw.split(","):
        token = part.strip()
        if not _DECIMAL.match(token):
            raise AzureError(inner_message=MALFORMED_MESSAGE)
        value = float(token)
        if not math.isfinite(value) or not MIN_RATIO <= value <= MAX_RATIO:
            raise AzureError(inner_message=RANGE_MESSAGE)
        ratios.append(value)
    return ratios


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


def analyze_ratios(raw_query: str) -> list[float]:
    """The ratios of a valid ``:analyze`` query (api-version and features checked first)."""
    params = lower_query(raw_query)
    check_api_version(params.get("api-version"))
    check_features(params.get("features"))
    return parse_aspect_ratios(params.get("smartcrops-aspect-ratios"))


def analysis_id(raw_query: str) -> str:
    """The image id of a ``GET /analysis`` query, validated as ``/th`` validates it (and, as
    there, given once: Azure's comma-joining of repeated names would name another image)."""
    ids = [v for k, v in parse_qsl(raw_query, keep_blank_values=True) if k.strip().lower() == "id"]
    if len(ids) > 1:
        raise invalid("BadArgument", "'id' must be given once")
    try:
        return validate_id(lower_query(raw_query).get("id"))
    except InvalidParameter as exc:
        raise invalid("BadArgument", exc.message) from exc


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
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError as exc:  # an unbalanced "[" or "]" in the host: "Invalid IPv6 URL"
        raise refused from exc
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


@dataclass(frozen=True)
class ImageInput:
    """What an ``:analyze`` body names: image bytes, or the id of a source image."""

    data: bytes | None = None
    image_id: str | None = None


def image_input(body: str | None, is_base64: bool, content_type: str | None, settings: Settings) -> ImageInput:
    """Read an ``:analyze`` body (raw bytes, base64 from API Gateway, or ``{"url"}`` JSON)."""
    raw = body or ""
    cap = settings.azure_max_body_bytes
    too_big = invalid(
        "InvalidImageSize",
        f"The image is larger than this service's limit of {cap} bytes.",
        "Image size is too big.",
    )
    if is_base64:
        if len(raw) * 3 // 4 > cap + 3:
            raise too_big
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid("InvalidImageFormat", "The request body is not valid base64.") from exc
    else:
        data = raw.encode("utf-8", "surrogateescape")
    if len(data) > cap:
        raise too_big
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == JSON or kind.endswith("+json"):
        try:
            doc = json.loads(data)
        # ValueError: json's cap on integer digits (4300), which is not a JSONDecodeError; RecursionError: deep nesting
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise invalid("InvalidImageUrl", 'The JSON body must be {"url": "..."}.') from exc
        url = doc.get("url") if isinstance(doc, dict) else None
        return ImageInput(image_id=source_id_for_url(url, settings))
    if not data:
        raise invalid("InvalidImageSize", "The request body is empty; send the image bytes.", "Image is empty.")
    return ImageInput(data=data)

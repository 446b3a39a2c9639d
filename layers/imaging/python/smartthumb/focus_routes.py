"""``PUT /analysis?id=ID``: store or clear an image's manual region of interest.

The body is ``{"region": {"x", "y", "w", "h"}}`` in oriented source pixels
(as ``GET /analysis`` and ``X-Smartthumb-Crop`` report boxes) or
``{"region": null}`` to clear it; the answer is the updated analysis
document (:func:`smartthumb.focus.analysis_document`). Errors: 400 for a
malformed body or a box outside the image, 404 for no such image, 403 when
signing is on and the request is not signed, 503 while the image's
analysis is still running.

**Signing.** With a signing secret configured the route needs ``sig`` (and
may carry ``exp``), made with the ``/th`` scheme (``infra/SIGNING.md``)
over the message ``PUT /analysis?`` + the canonical query, where the
canonical query also holds ``bodySha256=<hex SHA-256 of the exact body>``
(signed, not sent). So a ``/th`` or ``GET /analysis`` signature is worthless
here, and a signed PUT cannot be replayed with another region.
:func:`sign_focus_query` makes such a query. On AWS the route is part of
the same HTTP API as ``/th`` and is protected by this signature (IAM auth
on the route is not used: see ``infra/DEPLOY.md``).

The write is conditional on the sidecar's token (S3 ``If-Match``), so a
concurrent re-analysis is not lost and does not lose the region (it carries
it over: :func:`smartthumb.focus.carry_manual_region`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from smartthumb import focus
from smartthumb.config import Settings
from smartthumb.errors import InvalidParameter, SourceUnavailable, ThumbError
from smartthumb.signing import SignatureVerifier, query_pairs, sign_query
from smartthumb.sources import ImageSource, SourceObject

log = logging.getLogger("smartthumb.focus")

SIGNED_PATH = "PUT /analysis"
BODY_DIGEST = "bodySha256"
#: How long a PUT waits for an analysis when the image has no sidecar yet.
ANALYSIS_WAIT_MS = 20_000
WRITE_ATTEMPTS = 4


class AnalysisPending(ThumbError):
    """The image's analysis is not done yet; the region cannot be attached (503)."""

    status = 503
    code = "AnalysisPending"


class RegionNotStored(ThumbError):
    """There is no sidecar store to keep the region in (503)."""

    status = 503
    code = "RegionNotStored"


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def sign_focus_query(secret: str, image_id: str, body: bytes, *, expires_at: int | None = None) -> str:
    """The query for a signed ``PUT /analysis`` of ``body`` (see the module docstring)."""
    from urllib.parse import quote

    return sign_query(
        secret,
        f"id={quote(image_id, safe='')}",
        expires_at=expires_at,
        path=SIGNED_PATH,
        extra=[(BODY_DIGEST, body_digest(body))],
    )


def _image_id(pairs: list[tuple[str, str]]) -> str:
    ids = [v for k, v in pairs if k == "id"]
    if len(ids) != 1 or not ids[0]:
        raise InvalidParameter("'id' must be given once", param="id")
    return ids[0]


def set_region(cache: Any, obj: SourceObject, box: Any, *, wait_ms: int = ANALYSIS_WAIT_MS) -> Any:
    """Store ``box`` (``None``: clear) as ``obj``'s manual region; the new sidecar.

    ``cache`` is the process's :class:`~smartthumb.sidecars.AnalysisCache`:
    an image without a sidecar for this version is analysed first.
    """
    from smartthumb.sidecars import ConditionFailed
    from smartthumb.sidecars.document import utc_now

    store = cache.store
    for _ in range(WRITE_ATTEMPTS):
        current, token = store.read(obj.key)
        if current is None or current.etag != obj.etag:
            computed = cache.compute(obj, wait_ms)
            if computed is None:
                raise AnalysisPending("the image is still being analysed; try again shortly")
            current, token = store.read(obj.key)
            if current is None or current.etag != obj.etag:
                raise RegionNotStored("the analysis could not be stored, so neither can a region; try again")
        if not current.ok:
            error = current.error or {}
            exc = ThumbError(str(error.get("message") or "the image could not be analysed"))
            exc.status = int(error.get("status") or 415)
            exc.code = str(error.get("code") or "UnsupportedImage")
            raise exc
        new = focus.with_manual_region(current, box, utc_now())
        if new is current:
            return current
        try:
            store.write(obj.key, new, token)
        except ConditionFailed:
            continue  # someone wrote in between (a re-analysis): read again and re-apply
        cache.forget(obj)
        log.info("manual region of %r %s", obj.key, "cleared" if box is None else "set")
        return new
    raise SourceUnavailable("the analysis kept changing while the region was stored; try again")


def _body(app: APIGatewayHttpResolver) -> bytes:
    event = app.current_event.raw_event
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidParameter("the body is not valid base64", param="region") from exc
    return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)


def register_focus_routes(
    app: APIGatewayHttpResolver,
    settings: Settings,
    *,
    source: ImageSource,
    cache: Any,
    verifier: SignatureVerifier,
) -> None:
    """Add ``PUT /analysis`` to ``app`` (errors go through the app's ThumbError handler)."""

    @app.put("/analysis")
    def put_analysis() -> Response:
        pairs = query_pairs(app.current_event.raw_query_string or "")
        body = _body(app)
        verifier.verify([*pairs, (BODY_DIGEST, body_digest(body))], path=SIGNED_PATH)
        image_id = _image_id(pairs)
        box = focus.parse_region_body(body)  # 400 before any I/O
        obj = source.get(image_id)  # 404
        sidecar = set_region(cache, obj, box)
        return Response(
            status_code=200,
            content_type="application/json",
            body=json.dumps(focus.analysis_document(sidecar)),
            headers={"Cache-Control": "no-store", "ETag": f'"{obj.etag}"'},
        )

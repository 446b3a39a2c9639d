"""Azure AI Vision 4.0's smart-crops contract: the answer's shape and the errors.

Pure: no Powertools, no numpy. The analysis (:mod:`smartthumb.analysis`) knows
nothing of this JSON; :func:`smart_crops_answer` turns its result into it, and
:func:`from_thumb_error` turns this service's errors into Azure's, by type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from smartthumb.errors import (
    Forbidden,
    OutputTooLarge,
    SourceNotFound,
    SourceTooLarge,
    ThumbError,
    UnsupportedImage,
)
from smartthumb.geometry import Box

#: Azure's inner message for an aspect ratio out of range (its documented text).
RANGE_MESSAGE = "'smartcrops-aspect-ratios' aspect ratio is not in allowed range [0.75 to 1.8]"


class AzureError(Exception):
    """An error answered in Azure's format (``x-ms-error-code`` header = ``code``)."""

    def __init__(
        self,
        status: int = 400,
        code: str = "InvalidRequest",
        message: str = "Analyze query is invalid.",
        inner_code: str = "BadArgument",
        inner_message: str = RANGE_MESSAGE,
    ) -> None:
        super().__init__(inner_message)
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code
        self.inner_message = inner_message

    def to_body(self) -> dict[str, dict[str, object]]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innererror": {"code": self.inner_code, "message": self.inner_message},
            }
        }


def invalid(inner_code: str, inner_message: str, message: str = "Analyze query is invalid.") -> AzureError:
    """Azure's 400 ``InvalidRequest`` with an inner code."""
    return AzureError(400, "InvalidRequest", message, inner_code, inner_message)


def internal_error(detail: str = "unexpected error") -> AzureError:
    return AzureError(500, "InternalServerError", "The analysis failed.", "InternalServerError", detail)


def analysis_pending() -> AzureError:
    return AzureError(
        503,
        "ServiceUnavailable",
        "The analysis is not ready yet; retry shortly.",
        "AnalysisPending",
        "The analysis of this image is still running.",
    )


def from_thumb_error(exc: ThumbError) -> AzureError:
    """Our error family in Azure's words (inner codes as Azure AI Vision uses them)."""
    if isinstance(exc, UnsupportedImage):
        return invalid("InvalidImageFormat", "Input data is not a valid image.", "Image format is not valid.")
    if isinstance(exc, (SourceTooLarge, OutputTooLarge)):
        return invalid("InvalidImageSize", exc.message, "Image size is not allowed.")
    if isinstance(exc, SourceNotFound):
        return AzureError(404, "NotFound", exc.message, "NotFound", exc.message)
    if isinstance(exc, Forbidden):  # GET /analysis unsigned, forged or expired while signing is on
        return AzureError(403, "Forbidden", exc.message, "Forbidden", exc.message)
    if exc.status in (429, 503):
        return AzureError(exc.status, "ServiceUnavailable", exc.message, exc.code, exc.message)
    if 400 <= exc.status < 500:
        return invalid("BadArgument", exc.message)
    return internal_error(exc.code)


_RECORDED = {cls.code: cls for cls in (UnsupportedImage, SourceTooLarge, OutputTooLarge, SourceNotFound)}


def from_recorded_error(error: Mapping[str, Any]) -> AzureError:
    """The failure a sidecar recorded (``{"status", "code", "message"}``) in Azure's words."""
    message = str(error.get("message") or "analysis failed")
    cls = _RECORDED.get(str(error.get("code") or "UnsupportedImage"))
    if cls is not None:
        return from_thumb_error(cls(message))
    exc = ThumbError(message)
    exc.code = str(error.get("code"))
    status = error.get("status")
    exc.status = status if isinstance(status, int) else 415
    return from_thumb_error(exc)


class HasCrops(Protocol):
    """What the answer needs of an analysis (:class:`smartthumb.analysis.analyzer.Analysis`)."""

    model_version: str
    width: int
    height: int
    crops: Sequence[tuple[float, Box]]


def smart_crops_answer(analysis: HasCrops) -> dict[str, Any]:
    """Exactly Azure AI Vision 4.0's smart-crops answer for ``analysis``'s crops."""
    return {
        "modelVersion": analysis.model_version,
        "metadata": {"width": analysis.width, "height": analysis.height},
        "smartCropsResult": {
            "values": [
                {"aspectRatio": ratio, "boundingBox": {"x": b.x, "y": b.y, "w": b.w, "h": b.h}}
                for ratio, b in analysis.crops
            ]
        },
    }


def pick_ratios(stored: Mapping[str, Any] | None, ratios: list[float]) -> dict[str, Any] | None:
    """The answer for ``ratios`` from a stored Azure answer, when it holds every ratio asked."""
    if stored is None:
        return None
    if not ratios:
        return dict(stored)
    values = stored.get("smartCropsResult", {}).get("values", [])
    picked = []
    for ratio in ratios:
        match = next((v for v in values if math.isclose(float(v.get("aspectRatio", 0)), ratio)), None)
        if match is None:
            return None
        picked.append({"aspectRatio": ratio, "boundingBox": match["boundingBox"]})
    return {**stored, "smartCropsResult": {"values": picked}}

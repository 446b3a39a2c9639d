"""Azure AI Vision 4.0 smart-crops conventions: ratio parsing and the error body.

No numpy, no onnxruntime: the HTTP layer can validate a query before paying
for anything.

``smartcrops-aspect-ratios`` is a comma-separated list of decimals, each in
[0.75, 1.8] (width / height). Empty or absent means "one automatic crop".
Every bad value gives Azure's 400 ``InvalidRequest`` / ``BadArgument`` body;
the inner message for an out-of-range value is Azure's documented text, the
one for an unparsable value is ours (Azure's exact wording for that case is
not documented).
"""

from __future__ import annotations

import math
import re

MIN_RATIO = 0.75
MAX_RATIO = 1.8

RANGE_MESSAGE = "'smartcrops-aspect-ratios' aspect ratio is not in allowed range [0.75 to 1.8]"
MALFORMED_MESSAGE = "'smartcrops-aspect-ratios' must be comma-separated decimal numbers"

# A plain decimal: optional sign, digits with an optional fraction, or a
# leading-dot fraction. A signed or huge value parses and is then out of range.
_DECIMAL = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


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


def azure_result(
    model_version: str, width: int, height: int, crops: list[tuple[float, tuple[int, int, int, int]]]
) -> dict[str, object]:
    """Azure's smart-crops answer; ``crops`` are ``(aspectRatio, (x, y, w, h))``."""
    return {
        "modelVersion": model_version,
        "metadata": {"width": width, "height": height},
        "smartCropsResult": {
            "values": [
                {"aspectRatio": ratio, "boundingBox": {"x": x, "y": y, "w": w, "h": h}} for ratio, (x, y, w, h) in crops
            ]
        },
    }

"""One error family for the whole core.

Every error a client or an uploader can cause is a :class:`ThumbError` that
carries its HTTP status, a stable machine-readable ``code`` and a public
message. Handlers turn these into responses in one place; nothing branches on
message text, and messages never contain paths, bucket names or stack traces.
"""

from __future__ import annotations


class ThumbError(Exception):
    """Base class: ``status`` is the HTTP status, ``code`` a stable name."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    @property
    def permanent(self) -> bool:
        """A 4xx never succeeds on retry; events hitting it are not retried."""
        return 400 <= self.status < 500

    def to_body(self) -> dict[str, dict[str, str]]:
        body = {"code": self.code, "message": self.message}
        if self.param is not None:  # "" too: a parameter with an empty name is still named
            body["param"] = self.param
        return {"error": body}


class InvalidParameter(ThumbError):
    """A query parameter is missing, malformed or out of range (400)."""

    status = 400
    code = "InvalidParameter"


class Forbidden(ThumbError):
    """Missing, bad or expired signature (403)."""

    status = 403
    code = "Forbidden"


class SourceNotFound(ThumbError):
    """No image with that id in the source store (404)."""

    status = 404
    code = "NotFound"


class SourceTooLarge(ThumbError):
    """Source bytes or pixels over the configured limits (413)."""

    status = 413
    code = "SourceTooLarge"


class OutputTooLarge(ThumbError):
    """The encoded result cannot fit Lambda's response payload (413)."""

    status = 413
    code = "OutputTooLarge"


class UnsupportedImage(ThumbError):
    """The bytes are not an image this service can decode (415)."""

    status = 415
    code = "UnsupportedImage"


class TimeBudgetExceeded(ThumbError):
    """The request would not finish within its time budget (503, retryable)."""

    status = 503
    code = "TimeBudgetExceeded"


class SourceUnavailable(ThumbError):
    """The store failed for a reason that may pass (throttling, timeout): 503."""

    status = 503
    code = "SourceUnavailable"


class SourceMisconfigured(ThumbError):
    """The store refused us (AccessDenied, NoSuchBucket): the deployment is wrong, not the request (503)."""

    status = 503
    code = "SourceMisconfigured"


class SourceUnreadable(ThumbError):
    """An uploaded object this function may not read (AccessDenied, e.g. a KMS key it cannot use,
    or InvalidObjectState for an archived object): a permanent failure, recorded (403)."""

    status = 403
    code = "SourceUnreadable"

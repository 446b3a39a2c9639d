"""Signed ``/th`` URLs: HMAC-SHA256 over a canonical form of the query.

Off when no secret is configured. When on, every ``/th`` request must carry
``sig`` (and may carry ``exp``); a missing, malformed, wrong or expired
signature is a :class:`~smartthumb.errors.Forbidden` (403), checked *before*
the parameters are parsed, so an unsigned caller learns nothing about them.

The scheme (``infra/SIGNING.md`` is the contract for other languages):

1. Split the query into ``name=value`` pairs and percent-decode them exactly
   as the ``/th`` parser does (``+`` is a space, blank values kept).
2. Drop ``sig`` and the accepted-and-ignored Bing parameters
   (:data:`smartthumb.request.IGNORED`); keep everything else, ``exp``
   included.
3. Re-encode every name and value as UTF-8 percent-encoding where only
   ``A-Z a-z 0-9 - . _ ~`` stay literal, sort the ``name=value`` strings
   (by code point, i.e. byte order), join them with ``&``.
4. ``sig`` = base64url, without ``=`` padding, of
   ``HMAC-SHA256(key=UTF-8 secret, message="/th?" + canonical)``.

Because the canonical form is built from decoded values, any spelling that
the parser reads the same way (``%20`` vs ``+``, parameter order) carries the
same signature, and any change the parser would see changes the signature.

The secret is read once per container: from ``SIGNING_SECRET`` directly, or
by name from SSM Parameter Store (``SIGNING_SECRET_PARAMETER``, decrypted) or
Secrets Manager (``SIGNING_SECRET_ARN``, the ``SecretString``). A secret that
is configured by name but cannot be fetched fails *closed* with a 503.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote

from smartthumb import aws
from smartthumb.config import Settings
from smartthumb.errors import Forbidden, ThumbError
from smartthumb.request import IGNORED

SIG = "sig"
EXP = "exp"
#: The path that prefixes the signed message (domain separation from any
#: future signed route).
SIGNED_PATH = "/th"
#: A signature is 32 bytes: 43 base64url characters without padding.
SIG_LENGTH = 43
_EXCLUDED = frozenset((SIG, *IGNORED))
_SAFE = "-._~"  # with ASCII letters and digits: RFC 3986 "unreserved"


class SigningUnavailable(ThumbError):
    """The signing secret is configured by name but could not be read (503).

    Failing closed: without the key no request can be verified, and letting
    requests through unsigned would silently turn the protection off.
    """

    status = 503
    code = "SigningUnavailable"


def _valid_exp(raw: str) -> bool:
    """``exp`` is plain decimal digits (at most 12: unix seconds for 30 000 years)."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 12


def query_pairs(query: str) -> list[tuple[str, str]]:
    """Decode a raw query string the same way :func:`smartthumb.request.parse_query_string` does."""
    return parse_qsl(query, keep_blank_values=True)


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The order-independent form that is signed (see the module docstring)."""
    items = sorted(
        f"{quote(name, safe=_SAFE)}={quote(value, safe=_SAFE)}" for name, value in pairs if name not in _EXCLUDED
    )
    return "&".join(items)


def compute_signature(secret: str | bytes, pairs: Iterable[tuple[str, str]], path: str = SIGNED_PATH) -> str:
    """``sig`` for these query pairs: base64url (no padding) of the HMAC-SHA256.

    ``path`` separates routes: a signature made for one is worthless on another
    (``/th``; ``PUT /analysis`` signs its body digest too, see :mod:`smartthumb.focus_routes`).
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = f"{path}?{canonical_query(pairs)}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_query(
    secret: str | bytes,
    query: str,
    *,
    expires_at: int | None = None,
    path: str = SIGNED_PATH,
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    """Return ``query`` with ``exp`` (if given) and ``sig`` appended.

    The caller's spelling and order of the other parameters are kept; an
    existing ``sig`` is replaced. ``expires_at`` is a unix time in seconds.
    ``extra`` pairs are signed but not written into the query (the verifier
    derives them from the request, e.g. a body digest).
    """
    kept = [(k, v) for k, v in query_pairs(query.lstrip("?")) if k != SIG]
    if expires_at is not None:
        if any(k == EXP for k, _ in kept):
            raise ValueError("the query already has 'exp'")
        kept.append((EXP, str(int(expires_at))))
    exps = [v for k, v in kept if k == EXP]
    if len(exps) > 1 or any(not _valid_exp(v) for v in exps):
        # The verifier would refuse it: do not hand out a URL that cannot work.
        raise ValueError("'exp' must be given once, as a unix time in seconds")
    sig = compute_signature(secret, [*kept, *extra], path)
    encoded = "&".join(f"{quote(k, safe=_SAFE)}={quote(v, safe=_SAFE + '/')}" for k, v in kept)
    return f"{encoded}&{SIG}={sig}" if encoded else f"{SIG}={sig}"


class SignatureVerifier:
    """Checks ``sig``/``exp`` on ``/th`` requests; a no-op when signing is off.

    ``secret_loader`` is called at most once successfully per instance (one
    instance lives for the container); a failed load is retried on the next
    request rather than cached, so a throttled SSM call does not poison the
    container.
    """

    def __init__(
        self,
        secret_loader: Callable[[], str] | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._loader = secret_loader
        self._secret: bytes | None = None
        self._lock = threading.Lock()
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._loader is not None

    def _key(self) -> bytes:
        if self._secret is None:
            with self._lock:
                if self._secret is None:
                    assert self._loader is not None
                    try:
                        secret = self._loader()
                    except ThumbError:
                        raise
                    except Exception as exc:  # botocore errors, throttling, missing permissions
                        raise SigningUnavailable("request signing is temporarily unavailable; try again") from exc
                    if not secret:
                        raise SigningUnavailable("request signing is temporarily unavailable; try again")
                    self._secret = secret.encode("utf-8")
        return self._secret

    def verify(self, pairs: Sequence[tuple[str, str]], path: str = SIGNED_PATH) -> None:
        """Raise :class:`Forbidden` unless ``pairs`` carry a valid, unexpired signature for ``path``."""
        if self._loader is None:
            return
        sigs = [v for k, v in pairs if k == SIG]
        if not sigs:
            raise Forbidden("this URL must be signed: 'sig' is missing")
        if len(sigs) > 1:
            raise Forbidden("'sig' is given more than once")
        given = sigs[0]
        if len(given) != SIG_LENGTH:
            raise Forbidden("the signature does not match")
        expected = compute_signature(self._key(), pairs, path)
        # Constant time: the comparison does not reveal how many leading
        # characters of a forged signature were right.
        if not hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii")):
            raise Forbidden("the signature does not match")
        exps = [v for k, v in pairs if k == EXP]
        if len(exps) > 1:
            raise Forbidden("'exp' is given more than once")
        if exps:
            raw = exps[0]
            if not _valid_exp(raw):
                raise Forbidden("'exp' must be a unix time in seconds")
            if self._clock() >= int(raw):
                raise Forbidden("the signed URL has expired")


def load_secret(settings: Settings, *, ssm_client: Any | None = None, secrets_client: Any | None = None) -> str:
    """Fetch the configured secret (may call AWS); ``""`` when signing is off."""
    return fetch_secret(
        settings.signing_secret,
        settings.signing_secret_parameter,
        settings.signing_secret_arn,
        ssm_client=ssm_client,
        secrets_client=secrets_client,
    )


def fetch_secret(
    value: str, parameter: str, arn: str, *, ssm_client: Any | None = None, secrets_client: Any | None = None
) -> str:
    """A secret given directly, by SSM parameter name (decrypted) or by Secrets
    Manager ARN/name, in that order; ``""`` when none is configured."""
    if value:
        return value
    if parameter:
        if ssm_client is None:
            ssm_client = aws.ssm_client()
        answer = ssm_client.get_parameter(Name=parameter, WithDecryption=True)
        return str(answer["Parameter"]["Value"])
    if arn:
        if secrets_client is None:
            secrets_client = aws.secrets_client()
        answer = secrets_client.get_secret_value(SecretId=arn)
        return str(answer.get("SecretString") or "")
    return ""


def signing_configured(settings: Settings) -> bool:
    return bool(settings.signing_secret or settings.signing_secret_parameter or settings.signing_secret_arn)


def verifier_from_settings(
    settings: Settings, *, ssm_client: Any | None = None, secrets_client: Any | None = None
) -> SignatureVerifier:
    """A verifier for this container: off, or on with a lazily fetched secret."""
    if not signing_configured(settings):
        return SignatureVerifier(None)
    return SignatureVerifier(lambda: load_secret(settings, ssm_client=ssm_client, secrets_client=secrets_client))

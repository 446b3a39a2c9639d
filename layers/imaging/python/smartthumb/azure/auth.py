"""Who may use the Azure-compatible routes.

* ``POST .../imageanalysis:analyze`` runs the ONNX models on any image it is
  sent: with a key configured (``AZURE_API_KEY``, or by name in SSM /
  Secrets Manager through ``AZURE_API_KEY_PARAM``) it needs that key in
  ``Ocp-Apim-Subscription-Key`` (else Azure's 401). With *no* key, it is
  open only for local development: when signing is on, or on Lambda, it is
  off (403) -- an unkeyed deployment must not hand out free compute.
* ``GET /analysis?id=`` tells whether an image exists, its size and its crop
  boxes: when signing is on it needs a signature like ``/th``'s, over the
  path ``/analysis`` (``smartthumb sign --path /analysis``; SIGNING.md), and
  the key too when one is configured.

A key configured by name but unreadable fails closed (503), like signing.
"""

from __future__ import annotations

import hmac
import threading
from typing import Any

from smartthumb.azure.contract import AzureError
from smartthumb.azure.request import ACCESS_DENIED
from smartthumb.config import Settings
from smartthumb.signing import fetch_secret, signing_configured

ANALYSIS_PATH = "/analysis"
_OFF = "The analyze endpoint is off: this deployment has no subscription key configured."
_UNAVAILABLE = "The subscription key could not be read; try again."


class AzureKey:
    """The subscription key, fetched at most once successfully per container."""

    def __init__(self, settings: Settings, *, ssm_client: Any | None = None, secrets_client: Any | None = None) -> None:
        self.settings = settings
        self._clients = {"ssm_client": ssm_client, "secrets_client": secrets_client}
        self._key: str | None = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        s = self.settings
        return bool(s.azure_api_key or s.azure_api_key_parameter or s.azure_api_key_arn)

    @property
    def open_without_key(self) -> bool:
        """Local development only: signing off and not on Lambda."""
        return not signing_configured(self.settings) and not self.settings.lambda_function_name

    def _load(self) -> str:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    s = self.settings
                    try:
                        key = fetch_secret(
                            s.azure_api_key, s.azure_api_key_parameter, s.azure_api_key_arn, **self._clients
                        )
                    except Exception as exc:  # throttling, permissions: closed, retry on the next request
                        raise AzureError(
                            503, "ServiceUnavailable", _UNAVAILABLE, "ServiceUnavailable", _UNAVAILABLE
                        ) from exc
                    if not key:
                        raise AzureError(503, "ServiceUnavailable", _UNAVAILABLE, "ServiceUnavailable", _UNAVAILABLE)
                    self._key = key
        return self._key

    def check(self, given: str | None, *, analyze: bool) -> None:
        """Raise Azure's 401 for a missing or wrong key; 403 for the unkeyed analyze endpoint off-local."""
        if not self.configured:
            if analyze and not self.open_without_key:
                raise AzureError(403, "Forbidden", _OFF, "Forbidden", _OFF)
            return
        if not hmac.compare_digest((given or "").encode(), self._load().encode()):
            raise AzureError(401, "401", ACCESS_DENIED, "401", ACCESS_DENIED)

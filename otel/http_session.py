"""A ``requests`` session for the OTLP/HTTP exporters that keeps ``OTEL_EXPORTER_OTLP_CERTIFICATE``.

The exporters put the configured CA file on ``Session.verify``, but ``requests`` lets
``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` from the environment override it on every request
(psf/requests#3829). Many images set those variables, and then a collector with a private CA is
refused, silently, although the certificate was configured. This session lets an explicitly
configured CA file win; without one it is not used at all (the SDK's default session applies).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests


class PinnedCaSession(requests.Session):
    """``Session.verify`` set to a CA file wins over the CA-bundle environment variables."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and isinstance(self.verify, str):
            settings["verify"] = self.verify
        return settings


def session_for(env: Mapping[str, str], signal: str) -> PinnedCaSession | None:
    """A pinning session when a CA file is configured for ``signal`` (TRACES, METRICS, LOGS), else None."""
    if env.get(f"OTEL_EXPORTER_OTLP_{signal}_CERTIFICATE") or env.get("OTEL_EXPORTER_OTLP_CERTIFICATE"):
        return PinnedCaSession()
    return None

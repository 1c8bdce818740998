"""Optional API-key authentication (``API_KEYS``, header ``X-API-Key``).

Keys are compared in constant time against every configured key (no early exit that would leak
which key was close), failures are counted by reason, and the presented key never reaches a log,
a span or a metric.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from otel.attributes import ERROR_TYPE
from otel.fastmetrics import FastMetrics, SumPoint
from service.errors import Unauthorized

HEADER = "x-api-key"


class ApiKeyGuard:
    def __init__(self, keys: tuple[str, ...], fast_metrics: FastMetrics | None) -> None:
        self._keys = tuple(key.encode() for key in keys)
        self.enabled = bool(keys)
        self._failures: dict[str, SumPoint] = {}
        if fast_metrics is not None:
            counter = fast_metrics.counter("ml.auth.failures", "{request}", "Requests refused for a missing or wrong API key.")
            self._failures = {reason: counter.point({ERROR_TYPE: f"{reason}_api_key"}) for reason in ("missing", "invalid")}

    def check(self, request: Request) -> None:
        if not self.enabled:
            return
        presented = request.headers.get(HEADER)
        if presented is None:
            self._refuse("missing")
        candidate = presented.encode() if presented is not None else b""
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        if not matched:
            self._refuse("invalid")

    def _refuse(self, reason: str) -> None:
        point = self._failures.get(reason)
        if point is not None:
            point.add(1)
        raise Unauthorized(f"{reason} API key: send a valid key in the X-API-Key header")

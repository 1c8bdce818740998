"""Attribute names and bucket layouts ``otel`` records with: semantic-convention names where one exists."""

from __future__ import annotations

from typing import Final

# Semantic conventions
ERROR_TYPE: Final = "error.type"
HTTP_ROUTE: Final = "http.route"
HTTP_METHOD: Final = "http.request.method"
HTTP_STATUS: Final = "http.response.status_code"
SERVICE_VERSION: Final = "service.version"

# Stage spans and durations (``ml.stage.duration``, ``ml.errors``)
ML_STAGE: Final = "ml.stage"

# Stages take microseconds to milliseconds; whole requests up to seconds.
LATENCY_BUCKETS_S: Final = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

"""OpenTelemetry for a FastAPI app: server and stage spans, metrics with exemplars, correlated logs, profiling.

Usage::

    from fastapi import FastAPI
    from otel import instrument, setup_telemetry, stage

    telemetry = setup_telemetry({"service.version": "1.0"}, default_service_name="my-api")
    app = FastAPI(telemetry=telemetry.fastapi_config())   # FastAPI's own telemetry stays off
    instrument(app, telemetry)                            # spans, metrics, logs, profiler; shutdown on exit

    @app.get("/hello")
    def hello() -> dict[str, str]:
        with stage("prepare"):
            ...
        return {"hello": "world"}

Configuration comes from the standard ``OTEL_*`` environment (see ``otel.setup``); without an OTLP
endpoint, traces and logs are written as OTLP/JSON lines under ``./telemetry`` and metrics are served
from ``telemetry.prometheus_registry``. Runs on opentelemetry-sdk 1.40 and later (``otel.compat``).
"""

from otel.instrument import instrument
from otel.profiling import ProfilerConfig
from otel.request import RequestState, StageRecorder, current_request
from otel.setup import Telemetry, TelemetryOverrides, setup_telemetry
from otel.stages import SpanError, stage

__all__ = [
    "ProfilerConfig",
    "RequestState",
    "SpanError",
    "StageRecorder",
    "Telemetry",
    "TelemetryOverrides",
    "current_request",
    "instrument",
    "setup_telemetry",
    "stage",
]

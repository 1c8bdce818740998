"""A request never gets two HTTP server spans, even with the contrib FastAPI instrumentation added."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind
from starlette.routing import Router

from otel.middleware import TelemetryMiddleware
from otel.setup import TelemetryOverrides
from service.app import create_app
from service.config import Settings


def _server_spans(exporter: InMemorySpanExporter) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]


def _layers(app: Any) -> list[type]:
    """The ASGI layers a request passes through, outermost first, down to the router."""
    layers, layer = [], app.middleware_stack
    while layer is not None and not isinstance(layer, Router):
        layers.append(type(layer))
        layer = getattr(layer, "app", None)
    return layers


def test_native_telemetry_alone_makes_exactly_one_server_span(client: TestClient, example: dict[str, Any]) -> None:
    app = client.app
    exporter = InMemorySpanExporter()
    app.state.service.telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[attr-defined]
    for _ in range(3):
        client.post("/predict", json=example)
    assert len(_server_spans(exporter)) == 3


def test_contrib_instrumentation_on_top_still_yields_one_server_span(example: dict[str, Any]) -> None:
    exporter = InMemorySpanExporter()
    overrides = TelemetryOverrides(span_processors=[SimpleSpanProcessor(exporter)], sampler=ALWAYS_ON)
    app = create_app(Settings.from_env({}), telemetry_overrides=overrides)
    provider = app.state.service.telemetry.tracer_provider
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, meter_provider=app.state.service.telemetry.meter_provider)
    try:
        with TestClient(app) as client:
            response = client.post("/predict", json=example)
        assert response.status_code == 200
        servers = _server_spans(exporter)
        assert len(servers) == 1, [s.name for s in servers]
        assert _layers(app).count(TelemetryMiddleware) == 1
        stage_parents = {s.parent.span_id for s in exporter.get_finished_spans() if s.name in ("validation", "onnx_inference")}
        assert stage_parents <= {s.context.span_id for s in exporter.get_finished_spans()}
    finally:
        FastAPIInstrumentor.uninstrument_app(app)

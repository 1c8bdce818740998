"""Wire level: the service exports all three signals over real OTLP (gRPC and HTTP/protobuf)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.support.otlp_receiver import GrpcReceiver, HttpReceiver


def _attrs(key_values: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in key_values}


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    server = (GrpcReceiver() if request.param == "grpc" else HttpReceiver()).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", request.param)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "wire-test")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=ci,team=ml")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    yield server
    server.stop()


def test_all_three_signals_arrive_decoded(receiver: Any, example: dict[str, Any]) -> None:
    app = create_app(Settings.from_env({"REQUEST_LOG": "sampled"}))
    with TestClient(app) as client:
        response = client.post("/predict", json=example)
        trace_id = response.headers["traceresponse"].split("-")[1]
    # leaving the client ran the lifespan shutdown, which flushes every signal
    received = receiver.received
    spans = received.spans()
    names = {span.name for _, span in spans}
    assert {"POST /predict", "validation", "feature_engineering", "onnx_inference", "serialization"} <= names
    assert {span.trace_id.hex() for _, span in spans} == {trace_id}
    resource = _attrs(spans[0][0].attributes)
    assert resource["service.name"] == "wire-test"
    assert resource["deployment.environment.name"] == "ci"
    assert resource["team"] == "ml"
    assert resource["ml.model.name"] == "credit-risk"
    assert {
        "ml.stage.duration",
        "http.server.request.duration",
        "ml.predictions",
        "process.memory.usage",
    } <= received.metric_names()
    (stage_metric,) = received.metric("ml.stage.duration")[-1:]
    assert any(point.exemplars for point in stage_metric.histogram.data_points)
    records = [r for r in received.log_records() if "latency_ms" in _attrs(r.attributes)]
    assert records and records[0].trace_id.hex() == trace_id
    assert all(h.get("x-tenant") == "acme" for h in received.headers)

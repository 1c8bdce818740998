"""OTEL_SDK_DISABLED=true: the bare baseline. No providers, no spans, no headers, still serving."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from opentelemetry import trace

from otel.setup import setup_telemetry
from service.app import create_app
from service.config import Settings
from tests.support.stage_recorder import stage_recorder


def test_disabled_sdk_builds_no_providers() -> None:
    telemetry = setup_telemetry({}, default_service_name="x", env={"OTEL_SDK_DISABLED": "true"})
    assert not telemetry.enabled
    assert telemetry.tracer_provider is None and telemetry.meter_provider is None and telemetry.logger_provider is None
    assert telemetry.fastapi_config()["tracing"] is False


def test_disabled_service_serves_without_any_telemetry_work(monkeypatch: Any, example: dict[str, Any]) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    app = create_app(Settings.from_env({}))
    started: list[str] = []
    original = trace.NoOpTracer.start_span

    def spy(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        started.append(name)
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(trace.NoOpTracer, "start_span", spy)
    with TestClient(app) as client:
        response = client.post("/predict", json=example)
        assert response.status_code == 200
        assert "traceresponse" not in response.headers
        assert client.post("/predict", json={**example, "age": 1}).status_code == 422
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "ml_stage_duration" not in metrics.text
    assert started == []
    assert stage_recorder(app) is None and app.state.service.instruments is None

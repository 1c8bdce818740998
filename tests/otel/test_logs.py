"""Logs: one structured record per request, correlated with its trace; no request values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind

from service.config import Settings
from tests.conftest import Captured, build_client


def _request_records(captured: Captured) -> list[Any]:
    return [r.log_record for r in captured.logs.get_finished_logs() if r.log_record.attributes.get("latency_ms") is not None]


@pytest.fixture
def logged() -> Iterator[tuple[TestClient, Captured]]:
    """REQUEST_LOG=sampled: every request of a sampled trace (all of them here) leaves its record."""
    client, captured = build_client(Settings.from_env({"REQUEST_LOG": "sampled", "PROFILE_SAMPLE_RATE": "0"}))
    with client:
        yield client, captured


def test_one_performance_record_per_request_keyed_by_trace_id(
    logged: tuple[TestClient, Captured], example: dict[str, Any]
) -> None:
    client, captured = logged
    client.post("/predict/batch", json={"instances": [example, example]})
    (record,) = _request_records(captured)
    server = next(s for s in captured.finished_spans() if s.kind is SpanKind.SERVER)
    assert record.trace_id == server.context.trace_id
    assert record.span_id == server.context.span_id
    attributes = record.attributes
    assert attributes["http.route"] == "/predict/batch"
    assert attributes["http.response.status_code"] == 200
    assert attributes["ml.prediction.count"] == 2
    assert attributes["ml.model.version"]
    assert attributes["latency_ms"] > 0
    stages = {k.removeprefix("stage_ms."): v for k, v in attributes.items() if k.startswith("stage_ms.")}
    assert set(stages) == {"validation", "feature_engineering", "onnx_inference", "serialization"}
    assert sum(stages.values()) <= attributes["latency_ms"]
    assert record.severity_text == "INFO"


def test_failed_requests_are_recorded_too_without_their_values(
    logged: tuple[TestClient, Captured], example: dict[str, Any]
) -> None:
    client, captured = logged
    client.post("/predict", json={**example, "annual_income": -31337.75})
    (record,) = _request_records(captured)
    assert record.attributes["http.response.status_code"] == 422
    everything = json.dumps(
        [dict(r.log_record.attributes) | {"body": str(r.log_record.body)} for r in captured.logs.get_finished_logs()]
    )
    assert "31337" not in everything


def test_a_server_error_is_an_error_record_a_client_error_is_not(example: dict[str, Any]) -> None:
    client, captured = build_client(Settings.from_env({"FAULT_ERROR_RATE": "1", "REQUEST_LOG": "sampled"}))
    with client:
        assert client.post("/predict", json=example).status_code == 500
        assert client.post("/predict", json={**example, "age": 7}).status_code == 422
    severities = {r.attributes["http.response.status_code"]: r.severity_text for r in _request_records(captured)}
    assert severities == {500: "ERROR", 422: "INFO"}


@pytest.mark.parametrize(
    ("env", "logged_kinds"),
    [
        ({}, {"error", "slow", "profiled"}),  # REQUEST_LOG=notable, the default
        ({"REQUEST_LOG": "sampled"}, {"fast", "error", "slow", "profiled"}),
        ({"REQUEST_LOG": "off"}, set()),
    ],
)
def test_which_requests_leave_a_record(env: dict[str, str], logged_kinds: set[str], example: dict[str, Any]) -> None:
    kinds = {
        "fast": {"PROFILE_SAMPLE_RATE": "0"},
        "error": {"PROFILE_SAMPLE_RATE": "0", "FAULT_ERROR_RATE": "1"},
        "slow": {"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "20", "FAULT_SLOW_FEATURE_MS": "30"},
        "profiled": {"PROFILE_SAMPLE_RATE": "1"},
    }
    seen = set()
    for kind, kind_env in kinds.items():
        client, captured = build_client(Settings.from_env({**kind_env, **env}))
        with client:
            client.post("/predict", json=example)
        if _request_records(captured):
            seen.add(kind)
    assert seen == logged_kinds


def test_health_checks_leave_no_request_record(logged: tuple[TestClient, Captured], example: dict[str, Any]) -> None:
    client, captured = logged
    client.get("/health/ready")
    assert _request_records(captured) == []
    client.post("/predict", json=example)  # while a traced request does, in the same mode
    assert len(_request_records(captured)) == 1

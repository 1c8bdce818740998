"""The bench-only ``reference`` factory really profiles each prediction and really counts requests."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bench.apps.reference import app_factory
from service.config import Settings


def test_reference_app_profiles_every_prediction_and_counts_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, example: dict[str, Any]
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    app = app_factory(Settings.from_env({}, profile_sample_rate=0.0, profile_slow_ms=0.0))
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="reference.performance"):
        for _ in range(3):
            assert client.post("/predict", json=example).status_code == 200
        exposition = client.get("/reference/metrics").text
    records = [json.loads(r.getMessage())["performance_metrics"] for r in caplog.records if r.name == "reference.performance"]
    assert len(records) == 3
    assert records[0]["function_calls"] > 0
    assert len(records[0]["top_functions"]) == 5 and all(f["calls"] >= 1 and f["file"] for f in records[0]["top_functions"])
    assert (
        'fastapi_requests_total{endpoint="/predict",method="POST",service="credit-risk-service",status_code="200"} 3.0'
        in exposition
    )
    assert (
        'fastapi_request_duration_seconds_count{endpoint="/predict",method="POST",service="credit-risk-service"} 3.0'
        in exposition
    )

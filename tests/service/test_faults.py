"""Fault injection: off by default, loud when on, and doing exactly what its settings say."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from service.config import Settings
from tests.conftest import build_client


def test_no_fault_means_no_warning_and_no_resource_mark(example: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    client, captured = build_client()
    with caplog.at_level(logging.WARNING), client:
        assert client.post("/predict", json=example).status_code == 200
    assert not [r for r in caplog.records if "fault injection" in r.getMessage()]
    assert "ml.fault_injection" not in captured.span("POST /predict").resource.attributes


@pytest.mark.parametrize("env", [{"FAULT_SLOW_FEATURE_MS": "5"}, {"FAULT_ERROR_RATE": "0.5"}])
def test_any_fault_warns_at_startup_and_marks_the_resource(
    env: dict[str, str], example: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    client, captured = build_client(Settings.from_env(env))
    with caplog.at_level(logging.WARNING), client:
        client.post("/predict", json=example)
    (warning,) = [r for r in caplog.records if "fault injection is ON" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert captured.span("POST /predict").resource.attributes["ml.fault_injection"] is True


def test_the_error_rate_fails_about_that_share_of_inference_calls(example: dict[str, Any]) -> None:
    client, captured = build_client(Settings.from_env({"FAULT_ERROR_RATE": "0.5"}))
    with client:
        statuses = [client.post("/predict", json=example).status_code for _ in range(200)]
    failed = statuses.count(500)
    assert set(statuses) == {200, 500}
    assert 60 <= failed <= 140, failed  # binomial(200, 0.5): outside this range with p < 1e-8
    failing = [s for s in captured.finished_spans() if s.name == "onnx_inference" and s.attributes.get("error.type") == "injected_fault"]
    assert len(failing) == failed


def test_the_slow_feature_fault_costs_the_configured_time_in_feature_engineering(example: dict[str, Any]) -> None:
    client, captured = build_client(Settings.from_env({"FAULT_SLOW_FEATURE_MS": "40"}))
    with client:
        assert client.post("/predict", json=example).status_code == 200
    stage = captured.span("feature_engineering")
    assert (stage.end_time - stage.start_time) / 1e6 >= 40

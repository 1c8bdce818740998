"""Optional API keys: prediction endpoints need one, health stays open, failures are counted, keys never logged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.config import Settings
from tests.conftest import build_client

KEY = "s3cr3t-key-value"


@pytest.fixture
def guarded() -> Any:
    client, captured = build_client(Settings.from_env({"API_KEYS": f"other-key, {KEY}", "API_KEY_PROTECTS_METRICS": "true"}))
    with client:
        yield client, captured


def test_prediction_needs_a_valid_key(guarded: Any, example: dict[str, Any]) -> None:
    client, _ = guarded
    missing = client.post("/predict", json=example)
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    assert client.post("/predict", json=example, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/predict", json=example, headers={"X-API-Key": KEY}).status_code == 200
    assert client.post("/predict/batch", json={"instances": [example]}, headers={"X-API-Key": "other-key"}).status_code == 200


def test_health_stays_open_and_metrics_and_model_are_configurable(guarded: Any) -> None:
    client, _ = guarded
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert client.get("/model").status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": KEY}).status_code == 200


def test_failures_are_counted_by_reason_without_the_key(guarded: Any, example: dict[str, Any]) -> None:
    client, captured = guarded
    client.post("/predict", json=example)
    client.post("/predict", json=example, headers={"X-API-Key": "wrong-guess-123"})
    client.post("/predict", json=example, headers={"X-API-Key": "wrong-guess-456"})
    counted = {p.attributes["error.type"]: p.value for p in captured.metric_points("ml.auth.failures")}
    assert counted == {"missing_api_key": 1, "invalid_api_key": 2}
    dumped = json.dumps(
        [dict(s.attributes) for s in captured.finished_spans()]
        + [dict(r.log_record.attributes) | {"body": str(r.log_record.body)} for r in captured.logs.get_finished_logs()],
        default=str,
    )
    assert "wrong-guess" not in dumped and KEY not in dumped


def test_no_keys_configured_means_open(client: Any, example: dict[str, Any]) -> None:
    assert client.post("/predict", json=example).status_code == 200

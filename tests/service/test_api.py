"""Every endpoint, and every class of bad input: a clear 4xx naming the field and rule, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.config import Settings
from tests.conftest import build_client


def _fields(response: Any) -> set[str]:
    return {".".join(str(p) for p in error["loc"]) for error in response.json()["detail"]}


def test_predict_returns_class_probability_and_version(client: TestClient, example: dict[str, Any]) -> None:
    response = client.post("/predict", json=example)
    assert response.status_code == 200
    body = response.json()
    assert body["prediction"] in (0, 1)
    assert 0.0 <= body["probability"] <= 1.0
    assert body["prediction"] == int(body["probability"] >= 0.5)
    assert body["model_version"] == client.get("/model").json()["version"]


def test_predict_proba_probabilities_sum_to_one(client: TestClient, example: dict[str, Any]) -> None:
    body = client.post("/predict_proba", json=example).json()
    probabilities = body["probabilities"]
    assert set(probabilities) == {"no_default", "default"}
    assert probabilities["no_default"] + probabilities["default"] == pytest.approx(1.0)
    assert probabilities["default"] == pytest.approx(client.post("/predict", json=example).json()["probability"])


def test_batch_equals_single_predictions(client: TestClient, example: dict[str, Any]) -> None:
    rows = [
        example,
        {**example, "annual_income": 18000.0, "loan_amount": 30000.0, "delinquencies_2y": 4, "purpose": "small_business"},
        {**example, "age": 62, "home_ownership": "OWN", "credit_history_months": 480, "debt_to_income": 3.0},
    ]
    batch = client.post("/predict/batch", json={"instances": rows}).json()["predictions"]
    singles = [client.post("/predict", json=row).json() for row in rows]
    assert [p["prediction"] for p in batch] == [s["prediction"] for s in singles]
    assert [p["probability"] for p in batch] == pytest.approx([s["probability"] for s in singles], abs=1e-6)
    assert len({round(p["probability"], 6) for p in batch}) == 3, "different applicants should score differently"


def test_model_card_lists_28_features_and_reference_statistics(client: TestClient) -> None:
    card = client.get("/model").json()
    assert len(card["feature_names"]) == 28
    assert card["name"] and card["version"]
    assert "reference" in json.dumps(card)


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_not_ready_before_the_model_is_loaded(example: dict[str, Any]) -> None:
    client, _ = build_client()  # lifespan not started: the model is not loaded yet
    assert client.get("/health/ready").status_code == 503
    assert client.post("/predict", json=example).status_code == 503


def test_metrics_endpoint_exposes_prometheus_text(client: TestClient, example: dict[str, Any]) -> None:
    client.post("/predict", json=example)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "ml_stage_duration_seconds_bucket" in response.text
    assert "per-worker" in response.text or "one worker" in response.text


def test_openapi_documents_the_request_schema(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schema = document["components"]["schemas"]["LoanApplication"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"]) and len(schema["properties"]) == 11
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"age": 17}, "age", "greater_than_equal"),
        ({"age": 101}, "age", "less_than_equal"),
        ({"age": "35"}, "age", "int_type"),
        ({"age": 35.5}, "age", "int_type"),
        ({"age": True}, "age", "int_type"),
        ({"annual_income": 0}, "annual_income", "greater_than"),
        ({"loan_amount": -5}, "loan_amount", "greater_than"),
        ({"loan_term_months": 30}, "loan_term_months", "literal_error"),
        ({"employment_years": 61}, "employment_years", "less_than_equal"),
        ({"credit_history_months": 901}, "credit_history_months", "less_than_equal"),
        ({"open_accounts": -1}, "open_accounts", "greater_than_equal"),
        ({"delinquencies_2y": 51}, "delinquencies_2y", "less_than_equal"),
        ({"debt_to_income": 100.5}, "debt_to_income", "less_than_equal"),
        ({"home_ownership": "CASTLE"}, "home_ownership", "literal_error"),
        ({"purpose": "vacation"}, "purpose", "literal_error"),
        ({"purpose": None}, "purpose", "literal_error"),
        ({"unexpected": 1}, "unexpected", "extra_forbidden"),
    ],
)
def test_bad_field_is_named_with_its_rule(
    client: TestClient, example: dict[str, Any], change: dict[str, Any], field: str, rule: str
) -> None:
    response = client.post("/predict", json={**example, **change})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [["body", field]]
    assert errors[0]["type"] == rule
    assert "input" not in errors[0], "the rejected value is never echoed"


def test_missing_field(client: TestClient, example: dict[str, Any]) -> None:
    del example["debt_to_income"]
    response = client.post("/predict", json=example)
    assert response.status_code == 422 and _fields(response) == {"body.debt_to_income"}


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_rejected_not_scored(client: TestClient, example: dict[str, Any], token: str) -> None:
    body = json.dumps(example).replace('"annual_income": 55000.0', f'"annual_income": {token}')
    assert token in body
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert _fields(response) == {"body.annual_income"}


@pytest.mark.parametrize("body", [b"{", b"not json", b"", b'{"age": 35,}', b"[1, 2]"])
def test_malformed_json_is_a_4xx(client: TestClient, body: bytes) -> None:
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


def test_wrong_content_type_is_415(client: TestClient, example: dict[str, Any]) -> None:
    response = client.post("/predict", content=json.dumps(example), headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert _fields(response) == {"header.content-type"}


def test_empty_batch_is_rejected(client: TestClient) -> None:
    response = client.post("/predict/batch", json={"instances": []})
    assert response.status_code == 422 and _fields(response) == {"body.instances"}


def test_oversized_batch_is_rejected(example: dict[str, Any]) -> None:
    client, _ = build_client(Settings.from_env({}, max_batch_size=3))
    with client:
        response = client.post("/predict/batch", json={"instances": [example] * 4})
        assert response.status_code == 422 and response.json()["detail"][0]["type"] == "too_long"
        assert client.post("/predict/batch", json={"instances": [example] * 3}).status_code == 200


def test_bad_row_in_batch_is_located_by_index(client: TestClient, example: dict[str, Any]) -> None:
    response = client.post("/predict/batch", json={"instances": [example, {**example, "age": 5}]})
    assert response.status_code == 422 and _fields(response) == {"body.instances.1.age"}


def test_body_over_the_limit_is_413_and_service_keeps_serving(example: dict[str, Any]) -> None:
    client, _ = build_client(Settings.from_env({}, max_body_bytes=4096))
    with client:
        big = json.dumps({"instances": [example] * 100})
        assert len(big) > 4096
        response = client.post("/predict/batch", content=big, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert client.post("/predict", json=example).status_code == 200


def test_unknown_route_is_404(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404

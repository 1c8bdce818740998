"""Metric points a request leaves behind: names, units, bounded attributes, exemplars."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

from otel.attributes import LATENCY_BUCKETS_S
from tests.conftest import Captured, build_client

ALLOWED_ATTRIBUTE_KEYS = {
    "ml.stage",
    "ml.prediction.class",
    "error.type",
    "http.route",
    "http.request.method",
    "http.response.status_code",
    "url.scheme",
    "network.protocol.version",
    "cpu.mode",
    "ml.feature",  # drift buckets: raw field names + "score", and their fixed reference buckets
    "ml.bucket",
}
STAGES = {"validation", "feature_engineering", "onnx_inference", "serialization"}


def _by_stage(points: list[Any]) -> dict[str, Any]:
    return {p.attributes["ml.stage"]: p for p in points}


def test_stage_durations_recorded_per_stage_with_fine_buckets(
    client: TestClient, captured: Captured, example: dict[str, Any]
) -> None:
    for _ in range(3):
        client.post("/predict", json=example)
    points = _by_stage(captured.metric_points("ml.stage.duration"))
    assert set(points) == STAGES
    for point in points.values():
        assert point.count == 3
        assert tuple(point.explicit_bounds) == LATENCY_BUCKETS_S
        assert 0 < point.sum < 1.0


def test_stage_histogram_exemplars_point_at_the_stage_span(
    client: TestClient, captured: Captured, example: dict[str, Any]
) -> None:
    client.post("/predict", json=example)
    point = _by_stage(captured.metric_points("ml.stage.duration"))["onnx_inference"]
    span = captured.span("onnx_inference")
    assert point.exemplars, "sampled requests leave exemplars"
    exemplar = point.exemplars[0]
    assert (exemplar.trace_id, exemplar.span_id) == (span.context.trace_id, span.context.span_id)


def test_unsampled_requests_leave_no_exemplars(example: dict[str, Any]) -> None:
    client, captured = build_client(sampler=ParentBased(ALWAYS_OFF))
    with client:
        assert client.post("/predict", json=example).status_code == 200
    points = _by_stage(captured.metric_points("ml.stage.duration"))
    # Unsampled requests still time every stage; only the exemplar (a trace to point at) is missing.
    assert set(points) == STAGES
    for stage, point in points.items():
        assert point.count == 1, f"{stage}: {point.count} durations for one request"
        assert not point.exemplars, f"{stage}: exemplar {point.exemplars[0]} without a sampled span"


def test_http_server_metrics_use_the_route_template(client: TestClient, captured: Captured, example: dict[str, Any]) -> None:
    client.post("/predict", json=example)
    client.post("/predict", json={**example, "age": 3})
    client.get("/no/such/path/12345")
    points = captured.metric_points("http.server.request.duration")
    by_status = {(p.attributes.get("http.route"), p.attributes["http.response.status_code"]): p.count for p in points}
    assert by_status[("/predict", 200)] == 1
    assert by_status[("/predict", 422)] == 1
    assert not any("12345" in str(key) for key in by_status), "raw paths never become attributes"
    assert tuple(points[0].explicit_bounds) == LATENCY_BUCKETS_S
    assert captured.metric_points("http.server.active_requests")


def _risky(example: dict[str, Any]) -> dict[str, Any]:
    return {**example, "annual_income": 9000.0, "loan_amount": 60000.0, "debt_to_income": 95.0, "delinquencies_2y": 9}


def _assert_counted(captured: Captured, answers: list[dict[str, Any]], requests: int) -> None:
    """Predictions by class, the score histogram and the batch sizes all agree with what was answered."""
    classes = [a["prediction"] for a in answers]
    assert set(classes) == {0, 1}, "the rows must cover both classes for this check to mean anything"
    counted = {p.attributes["ml.prediction.class"]: p.value for p in captured.metric_points("ml.predictions")}
    assert counted == {str(c): classes.count(c) for c in set(classes)}
    (score,) = captured.metric_points("ml.prediction.score")
    assert score.count == len(answers) and abs(score.sum - sum(a["probability"] for a in answers)) < 1e-9
    (size,) = captured.metric_points("ml.batch.size")
    assert size.count == requests and size.sum == len(answers)


def test_prediction_counters_scores_batch_sizes_and_model_status(
    client: TestClient, captured: Captured, example: dict[str, Any]
) -> None:
    batch = client.post("/predict/batch", json={"instances": [example, _risky(example), example]}).json()["predictions"]
    _assert_counted(captured, batch, requests=1)
    assert [p.value for p in captured.metric_points("ml.model.loaded")] == [1]


def test_one_row_requests_are_counted_by_class_with_their_scores(
    client: TestClient, captured: Captured, example: dict[str, Any]
) -> None:
    answers = [client.post("/predict", json=row).json() for row in (example, _risky(example), _risky(example))]
    _assert_counted(captured, answers, requests=3)


def test_errors_are_counted_by_type_and_stage(client: TestClient, captured: Captured, example: dict[str, Any]) -> None:
    client.post("/predict", json={**example, "age": 3})
    errors = {(p.attributes["error.type"], p.attributes["ml.stage"]): p.value for p in captured.metric_points("ml.errors")}
    assert errors == {("validation_error", "validation"): 1}


def test_process_metrics(client: TestClient, captured: Captured) -> None:
    rss = captured.metric_points("process.memory.usage")
    assert rss and rss[0].value > 10_000_000
    modes = {p.attributes["cpu.mode"] for p in captured.metric_points("process.cpu.time")}
    assert modes == {"user", "system"}
    assert captured.metric_points("process.cpu.utilization")


def test_every_attribute_key_is_bounded(client: TestClient, captured: Captured, example: dict[str, Any]) -> None:
    client.post("/predict", json=example)
    client.post("/predict_proba", json={**example, "age": 1000})
    data = captured.metrics.get_metrics_data()
    keys = {
        key
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        for point in metric.data.data_points
        for key in point.attributes
    }
    assert keys <= ALLOWED_ATTRIBUTE_KEYS, keys - ALLOWED_ATTRIBUTE_KEYS


def test_resource_identifies_service_instance_and_model(captured: Captured) -> None:
    data = captured.metrics.get_metrics_data()
    resource = data.resource_metrics[0].resource.attributes
    assert resource["service.name"] == "credit-risk-service"
    assert resource["ml.model.name"] == "credit-risk"
    assert resource["service.instance.id"]
    assert resource["deployment.environment.name"]

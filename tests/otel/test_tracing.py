"""The span tree of a request, its attributes, statuses, and trace-context propagation in and out."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import SpanKind, StatusCode

from service.config import Settings
from tests.conftest import Captured, build_client

STAGES = ("validation", "feature_engineering", "onnx_inference", "serialization")


def test_one_server_span_with_the_four_stages_as_children(
    client: TestClient, captured: Captured, example: dict[str, Any]
) -> None:
    client.post("/predict", json=example)
    spans = captured.finished_spans()
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(servers) == 1
    server = servers[0]
    assert server.name == "POST /predict"
    assert server.attributes["http.route"] == "/predict"
    assert server.attributes["http.response.status_code"] == 200
    children = sorted((s for s in spans if s.parent and s.parent.span_id == server.context.span_id), key=lambda s: s.start_time)
    assert [s.name for s in children] == list(STAGES)
    for child in children:
        assert child.context.trace_id == server.context.trace_id
        assert child.attributes["ml.stage"] == child.name
        assert child.attributes["ml.model.name"] == "credit-risk"
        assert child.attributes["ml.batch.size"] == 1
        assert child.attributes["ml.model.version"]


def test_inference_span_describes_the_runtime(client: TestClient, captured: Captured, example: dict[str, Any]) -> None:
    client.post("/predict/batch", json={"instances": [example] * 7})
    span = captured.span("onnx_inference")
    assert tuple(span.attributes["ml.onnx.input_shape"]) == (7, 28)
    assert span.attributes["ml.onnx.execution_provider"] == "CPUExecutionProvider"
    assert span.attributes["ml.onnx.intra_op_threads"] == 1
    assert span.attributes["ml.batch.size"] == 7


def test_validation_failure_marks_the_stage_without_recording_values(
    client: TestClient, captured: Captured, example: dict[str, Any]
) -> None:
    response = client.post("/predict", json={**example, "age": 7, "annual_income": -99999.25})
    assert response.status_code == 422
    span = captured.span("validation")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "validation_error"
    (event,) = [e for e in span.events if e.name == "exception"]
    assert set(event.attributes["ml.validation.fields"]) == {"body.age", "body.annual_income"}
    everything = json.dumps(
        [{**dict(s.attributes), "events": [dict(e.attributes) for e in s.events]} for s in captured.finished_spans()], default=str
    )
    assert "99999.25" not in everything, "a rejected value leaked into a span"
    assert not [s for s in captured.finished_spans() if s.name == "feature_engineering"]
    server = next(s for s in captured.finished_spans() if s.kind is SpanKind.SERVER)
    assert server.status.status_code is StatusCode.UNSET, "a client error is not a server error"


def test_inference_failure_is_an_error_on_the_stage_and_the_server_span(example: dict[str, Any]) -> None:
    client, captured = build_client(Settings.from_env({}, fault_error_rate=1.0))
    with client:
        response = client.post("/predict", json=example)
    assert response.status_code == 500
    span = captured.span("onnx_inference")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "injected_fault"
    assert any(e.name == "exception" for e in span.events)
    server = next(s for s in captured.finished_spans() if s.kind is SpanKind.SERVER)
    assert server.status.status_code is StatusCode.ERROR


def test_feature_values_stay_out_of_spans_unless_enabled(example: dict[str, Any]) -> None:
    example = {**example, "annual_income": 71234.5}
    for enabled in (False, True):
        client, captured = build_client(Settings.from_env({}, record_feature_values=enabled))
        with client:
            client.post("/predict", json=example)
        dumped = json.dumps([dict(s.attributes) for s in captured.finished_spans()], default=str)
        assert ("71234.5" in dumped) is enabled


def test_incoming_traceparent_is_continued_and_traceresponse_returned(
    client: TestClient, captured: Captured, example: dict[str, Any]
) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = client.post(
        "/predict", json=example, headers={"traceparent": f"00-{trace_id}-{parent_id}-01", "baggage": "tenant=acme"}
    )
    server = next(s for s in captured.finished_spans() if s.kind is SpanKind.SERVER)
    assert f"{server.context.trace_id:032x}" == trace_id
    assert f"{server.parent.span_id:016x}" == parent_id
    version, returned_trace, returned_span, flags = response.headers["traceresponse"].split("-")
    assert (version, returned_trace, flags) == ("00", trace_id, "01")
    assert returned_span == f"{server.context.span_id:016x}"


def test_unsampled_requests_still_get_a_trace_id_but_no_spans(example: dict[str, Any]) -> None:
    client, captured = build_client(sampler=ParentBased(ALWAYS_OFF))
    with client:
        response = client.post("/predict", json=example)
    assert response.status_code == 200
    flags = int(response.headers["traceresponse"].rsplit("-", 1)[1], 16)
    assert flags & 0x01 == 0, "the sampled flag tells the caller this trace was not kept"
    assert captured.finished_spans() == []
    assert captured.metric_points("ml.stage.duration"), "metrics are recorded for every request"


def test_health_and_metrics_are_not_traced(client: TestClient, captured: Captured) -> None:
    client.get("/health/live")
    client.get("/health/ready")
    client.get("/metrics")
    assert captured.finished_spans() == []


def test_errors_in_every_response_carry_traceresponse(client: TestClient) -> None:
    response = client.post("/predict", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert len(response.headers["traceresponse"]) == 55

"""Jaeger returns the traces whose ids the service handed out in ``traceresponse``, as the service built them."""

from __future__ import annotations

import pytest

from tests.e2e.backends import Jaeger, JaegerTrace, poll
from tests.e2e.conftest import SLOW_FAULT_MS, E2ERun
from tests.e2e.services import Reply

pytestmark = pytest.mark.e2e

SERVER_SPAN = "POST /predict"
STAGES = ("validation", "feature_engineering", "onnx_inference", "serialization")
HOT_FUNCTION = "profile.hot_function"
SLOW_FUNCTION = "service.pipeline.stages.slow_feature_fault"
# Sent during the burst; the tail sampler decides 2 s after the root span, Jaeger indexes within ~1 s.
TRACE_TIMEOUT_S = 60


def complete_trace(jaeger: Jaeger, reply: Reply, span_count: int) -> JaegerTrace:
    assert reply.trace_id is not None
    return poll(
        lambda: t if (t := jaeger.trace(reply.trace_id)) is not None and len(t.spans) >= span_count else None,  # type: ignore[arg-type]
        timeout_s=TRACE_TIMEOUT_S,
        what=f"Jaeger to return trace {reply.trace_id} with {span_count} spans",
    )


def test_slow_request_trace_has_server_span_four_stages_and_hot_functions(run: E2ERun, jaeger: Jaeger) -> None:
    reply = run.burst["slow"][0]
    trace = complete_trace(jaeger, reply, 1 + len(STAGES))

    server = trace.one(SERVER_SPAN)
    assert server.kind == "server"
    assert server.parent_id is None
    assert server.span_id == reply.span_id, "traceresponse must name the server span"
    assert server.service == run.name("slow")
    assert server.tags.get("http.route") == "/predict"
    assert server.tags.get("http.response.status_code") == 200
    for stage in STAGES:
        span = trace.one(stage)
        assert span.parent_id == server.span_id, f"{stage} is not a child of the server span"
        assert span.tags.get("ml.stage") == stage
    assert trace.one("feature_engineering").duration_us >= SLOW_FAULT_MS * 1000

    assert server.tags.get("profile.trigger") == "slow"
    for span in (server, trace.one("feature_engineering")):
        hot = span.events_named(HOT_FUNCTION)
        assert hot, f"no {HOT_FUNCTION} events on {span.name}"
        names = [e.attributes.get("code.function.name") for e in hot]
        assert SLOW_FUNCTION in names, f"{span.name}: hot functions {names} do not name the injected slow function"
        top = min(hot, key=lambda e: e.attributes["profile.rank"])
        assert top.attributes["code.function.name"] == SLOW_FUNCTION, f"{span.name}: rank 1 is {top.attributes}"
        assert str(top.attributes["code.file.path"]).endswith("service/pipeline/stages.py")
        assert int(top.attributes["code.line.number"]) > 0


def test_failed_request_trace_marks_the_failing_stage(run: E2ERun, jaeger: Jaeger) -> None:
    reply = run.burst["error"][0]
    trace = complete_trace(jaeger, reply, 4)  # no serialization: inference raised

    server = trace.one(SERVER_SPAN)
    assert server.span_id == reply.span_id
    assert server.tags.get("http.response.status_code") == 500
    assert server.tags.get("otel.status_code") == "ERROR"
    inference = trace.one("onnx_inference")
    assert inference.parent_id == server.span_id
    assert inference.tags.get("otel.status_code") == "ERROR"
    assert inference.tags.get("error.type") == "injected_fault"
    assert inference.events_named("exception"), "the failing stage carries its exception event"
    assert not trace.named("serialization")

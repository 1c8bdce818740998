"""Jaeger returns the traces whose ids the service handed out in ``traceresponse``, as the service built them."""

from __future__ import annotations

import pytest

from tests.e2e.backends import Jaeger, JaegerSpan, JaegerTrace, SpanEvent, poll
from tests.e2e.conftest import SLOW_FAULT_MS, E2ERun
from tests.e2e.services import Reply

pytestmark = pytest.mark.e2e

SERVER_SPAN = "POST /predict"
STAGES = ("validation", "feature_engineering", "onnx_inference", "serialization")
HOT_FUNCTION = "profile.hot_function"
SLOW_FUNCTION = "service.pipeline.faults.slow_feature_fault"
# Sent during the burst; the tail sampler decides 2 s after the root span, Jaeger indexes within ~1 s.
TRACE_TIMEOUT_S = 60


def complete_trace(jaeger: Jaeger, reply: Reply, span_count: int) -> JaegerTrace:
    assert reply.trace_id is not None
    return poll(
        lambda: t if (t := jaeger.trace(reply.trace_id)) is not None and len(t.spans) >= span_count else None,  # type: ignore[arg-type]
        timeout_s=TRACE_TIMEOUT_S,
        what=f"Jaeger to return trace {reply.trace_id} with {span_count} spans",
    )


def hot_functions(span: JaegerSpan) -> dict[str, SpanEvent]:
    """The span's ``profile.hot_function`` events by function name."""
    return {str(e.attributes.get("code.function.name")): e for e in span.events_named(HOT_FUNCTION)}


def top_function(span: JaegerSpan) -> str | None:
    """The function ranked first (``profile.rank`` 1) on the span, if it has hot functions."""
    hot = span.events_named(HOT_FUNCTION)
    return str(min(hot, key=lambda e: int(e.attributes["profile.rank"])).attributes["code.function.name"]) if hot else None


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
    stage = trace.one("feature_engineering")
    on_server, on_stage = hot_functions(server), hot_functions(stage)
    # A stage span holds only its own stage's samples: the injected function ranks first there.
    assert top_function(stage) == SLOW_FUNCTION, f"feature_engineering: hot functions {on_stage}"
    fault = on_stage[SLOW_FUNCTION].attributes
    assert str(fault["code.file.path"]).endswith("service/pipeline/faults.py")
    assert int(fault["code.line.number"]) > 0
    # The server span holds the whole request's samples: it names the function with the time its stage
    # saw (its rank there is checked across the burst, below).
    assert SLOW_FUNCTION in on_server, f"{SERVER_SPAN}: hot functions {list(on_server)} do not name the injected slow function"
    on_request = on_server[SLOW_FUNCTION].attributes
    assert (on_request["code.file.path"], on_request["code.line.number"]) == (fault["code.file.path"], fault["code.line.number"])
    assert float(on_request["profile.self_ms"]) == pytest.approx(float(fault["profile.self_ms"]), abs=0.01)
    assert float(fault["profile.self_ms"]) > 0


def test_slow_requests_rank_the_injected_function_first(run: E2ERun, jaeger: Jaeger) -> None:
    """First on every slow request's stage span, and on the server span of most of them.

    Each sample stands for the wall time since the previous one. Under background load the watchdog can
    wait long for the GIL and charge that wait to whatever runs when it gets it, now and then putting
    onnxruntime first on a server span (tests/otel/test_slow_capture.py allows the same). A stage span
    holds only its own samples, so there the injected function must always come first.
    """
    traces = [complete_trace(jaeger, reply, 1 + len(STAGES)) for reply in run.burst["slow"]]
    on_stages = [top_function(trace.one("feature_engineering")) for trace in traces]
    assert on_stages == [SLOW_FUNCTION] * len(traces), f"rank 1 on the feature_engineering spans: {on_stages}"
    on_servers = [top_function(trace.one(SERVER_SPAN)) for trace in traces]
    assert on_servers.count(SLOW_FUNCTION) > len(traces) / 2, f"rank 1 on the server spans: {on_servers}"


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

"""Slow-request capture: requests past PROFILE_SLOW_MS explain themselves; fast ones are left alone."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from otel.hot_functions import FrameClassifier
from otel.request import RequestState
from otel.slow_capture import SlowCapture
from service.config import Settings
from tests.conftest import build_client
from tests.otel import planted
from tests.support.in_memory import recording_provider

EVENT = "profile.hot_function"


def function_of(event: Any) -> str:
    return str((event.attributes or {})["code.function.name"])


def hot_names(span: ReadableSpan) -> list[str]:
    return [function_of(e) for e in span.events if e.name == EVENT]


@pytest.fixture
def tracing() -> tuple[Tracer, InMemorySpanExporter]:
    provider, exporter = recording_provider()
    return provider.get_tracer("test"), exporter


@pytest.fixture
def capture() -> Iterator[SlowCapture]:
    watchdog = SlowCapture(threshold_ms=30, interval_ms=1, top_n=5, classifier=FrameClassifier(), idle_exit_s=0.05)
    yield watchdog
    watchdog.close()


def run_request(capture: SlowCapture, tracer: Tracer, stages: list[tuple[str, Callable[[], object]]]) -> None:
    """What the stage observer and the request hook do for one request, around planted work."""
    server = tracer.start_span("POST /planted", kind=SpanKind.SERVER)
    request = RequestState(None, server, sampled=True)  # type: ignore[arg-type]
    for name, work in stages:
        span = tracer.start_span(name, context=trace.set_span_in_context(server))
        capture.watch(request, name)
        work()
        capture.stage_ended(request, name, span)
        span.end()
    capture.finish(request)
    server.end()


def spans_by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_at_least_95_percent_of_slow_requests_carry_hot_functions(example: dict[str, Any]) -> None:
    settings = Settings.from_env({"FAULT_SLOW_FEATURE_MS": "120", "PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "50"})
    client, captured = build_client(settings)
    with client, ThreadPoolExecutor(2) as clients:  # two in flight at once, as under load
        statuses = list(clients.map(lambda _: client.post("/predict", json=example).status_code, range(40)))
    assert statuses == [200] * 40
    spans = captured.finished_spans()
    slow = [s for s in spans if s.kind is SpanKind.SERVER and (s.end_time - s.start_time) / 1e6 > 50]
    features = {s.context.trace_id: s for s in spans if s.name == "feature_engineering"}
    fault = "service.pipeline.faults.slow_feature_fault"

    def explained(server: ReadableSpan) -> bool:
        # Under contention onnxruntime may rank first on the server span (its wait for the GIL is real
        # wall time), so the server span must *name* the fault; its stage span must rank it first.
        stage = features[server.context.trace_id]
        return fault in hot_names(server) and hot_names(stage)[:1] == [fault]

    assert len(slow) == 40
    share = sum(map(explained, slow)) / len(slow)
    assert share >= 0.95, f"only {share:.0%} of slow requests name the slow function"


def test_a_request_under_the_threshold_is_never_sampled(tracing: tuple[Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = tracing
    patient = SlowCapture(threshold_ms=2000, interval_ms=1, top_n=5, classifier=FrameClassifier(), idle_exit_s=0.05)
    try:
        run_request(patient, tracer, [("feature_engineering", lambda: planted.slow_alpha(150))])  # three watchdog wakes
    finally:
        patient.close()
    assert not [s for s in exporter.get_finished_spans() if s.events or "profile.trigger" in (s.attributes or {})]


def test_samples_belong_to_the_stage_running_when_they_were_taken(
    capture: SlowCapture, tracing: tuple[Tracer, InMemorySpanExporter]
) -> None:
    tracer, exporter = tracing
    run_request(
        capture,
        tracer,
        [
            ("validation", lambda: None),
            ("feature_engineering", lambda: planted.slow_alpha(120)),  # crosses the 30 ms threshold here
            ("onnx_inference", lambda: planted.slow_beta(120)),
        ],
    )
    spans = spans_by_name(exporter)
    assert hot_names(spans["validation"]) == []
    assert hot_names(spans["feature_engineering"]) == [planted.ALPHA]
    assert hot_names(spans["onnx_inference"]) == [planted.BETA]
    assert set(hot_names(spans["POST /planted"])) == {planted.ALPHA, planted.BETA}
    server = spans["POST /planted"]
    assert server.attributes["profile.trigger"] == "slow"
    assert 0 < server.attributes["profile.observed_ms"] <= (server.end_time - server.start_time) / 1e6


def self_ms(span: ReadableSpan) -> float:
    return sum(float((e.attributes or {})["profile.self_ms"]) for e in span.events if e.name == EVENT)


def duration_ms(span: ReadableSpan) -> float:
    return (span.end_time - span.start_time) / 1e6


@pytest.fixture
def long_gil_switches() -> Iterator[None]:
    """A long GIL switch interval, as under CPU contention: the watchdog waits long for the GIL between samples."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.02)
    yield
    sys.setswitchinterval(before)


def test_a_fast_stage_that_releases_the_gil_is_not_charged_for_the_slow_one_before_it(
    capture: SlowCapture, tracing: tuple[Tracer, InMemorySpanExporter], long_gil_switches: None
) -> None:
    tracer, exporter = tracing
    stages: list[tuple[str, Callable[[], object]]] = []
    for i in range(4):  # slow pure Python, then a short stage that releases the GIL (as onnx_inference does)
        stages += [(f"slow_{i}", lambda: planted.slow_alpha(60)), (f"gap_{i}", lambda: planted.gil_gap(0.2))]
    run_request(capture, tracer, stages)
    spans = spans_by_name(exporter)
    server = spans["POST /planted"]
    for span in spans.values():
        assert self_ms(span) <= duration_ms(span), f"{span.name}: hot functions claim more than the span lasted"
    assert [i for i in range(1, 4) if hot_names(spans[f"slow_{i}"]) == [planted.ALPHA]] == [1, 2, 3]
    assert hot_names(server)[:1] == [planted.ALPHA]
    gaps = [spans[f"gap_{i}"] for i in range(4)]
    if all(duration_ms(gap) < 1.0 for gap in gaps):  # a descheduled sleep can really last a sampling interval
        assert hot_names(server) == [planted.ALPHA], "a function that only runs in GIL-release gaps is not hot"
        assert not [name for gap in gaps for name in hot_names(gap)]
    gap_events = [e for e in server.events if e.name == EVENT and function_of(e) == planted.GAP]
    gap_ms = sum(float((e.attributes or {})["profile.self_ms"]) for e in gap_events)
    assert gap_ms <= sum(map(duration_ms, gaps))


def test_the_watchdog_retires_when_idle_and_comes_back(
    capture: SlowCapture, tracing: tuple[Tracer, InMemorySpanExporter]
) -> None:
    tracer, exporter = tracing
    for round_ in range(2):
        run_request(capture, tracer, [("feature_engineering", lambda: planted.slow_alpha(80))])
        assert hot_names(spans_by_name(exporter)["feature_engineering"]), f"round {round_}: not captured"
        exporter.clear()
        deadline = time.monotonic() + 10
        while capture.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not capture.running, "an idle watchdog thread should exit"


def test_a_watchdog_failure_is_logged_once_and_requests_proceed(
    capture: SlowCapture,
    tracing: tuple[Tracer, InMemorySpanExporter],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracer, exporter = tracing

    def broken(frame: object) -> object:
        raise RuntimeError("planted watchdog failure")

    monkeypatch.setattr(capture, "_stack", broken)
    results: list[int] = []
    with caplog.at_level(logging.DEBUG, logger="otel.profiling"):
        for _ in range(2):
            run_request(capture, tracer, [("feature_engineering", lambda: results.append(planted.slow_alpha(80)))])
    assert len(results) == 2
    assert not [s for s in exporter.get_finished_spans() if s.events]
    warnings = [r for r in caplog.records if r.name == "otel.profiling" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "watchdog" in warnings[0].getMessage()

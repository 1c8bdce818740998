"""The jaeger_remote sampler against a real HTTP strategy server: selection, polling, outages, shutdown, per-route decisions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision

from otel import TelemetryOverrides, instrument, setup_telemetry
from otel.jaeger_remote_sampler import (
    POLL_FAILURES_METRIC,
    JaegerRemoteSampler,
    ParentBasedJaegerRemoteSampler,
    RemoteSamplerConfig,
)
from otel.sampling import SamplerError, sampler_from_env
from tests.otel.strategy_server import StrategyServer, per_operation, probabilistic, strategy_server
from tests.support.in_memory import fast_tracer, recording_provider

ALL_ONES = 2**128 - 1  # a trace id every rate below 1 drops
ZERO = 1  # a trace id every rate above 0 samples


@pytest.fixture
def server() -> Iterator[StrategyServer]:
    with strategy_server(probabilistic(1.0)) as running:
        yield running


def remote(server: StrategyServer, interval_ms: int = 60_000, initial: float = 0.0) -> JaegerRemoteSampler:
    return JaegerRemoteSampler(RemoteSamplerConfig(server.endpoint, interval_ms, initial))


def wait_polls(sampler: JaegerRemoteSampler, count: int) -> None:
    with sampler.polled:
        assert sampler.polled.wait_for(lambda: sampler.polls >= count, timeout=20), f"{sampler.polls} polls, expected {count}"


def failures(reader: InMemoryMetricReader) -> dict[str, int]:
    data = reader.get_metrics_data()
    out: dict[str, int] = {}
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == POLL_FAILURES_METRIC:
                    for point in metric.data.data_points:
                        out[point.attributes["error.type"]] = point.value
    return out


# --- selection --------------------------------------------------------------------------------------


def test_both_names_are_selected_with_the_specification_argument_format() -> None:
    env = {
        "OTEL_TRACES_SAMPLER": "parentbased_jaeger_remote",
        "OTEL_TRACES_SAMPLER_ARG": "endpoint=http://jaeger:5778/,pollingIntervalMs=5000,initialSamplingRate=0.25",
    }
    sampler, text = sampler_from_env(env)
    assert isinstance(sampler, ParentBasedJaegerRemoteSampler)
    assert sampler.remote.config == RemoteSamplerConfig("http://jaeger:5778", 5000, 0.25)
    assert text == "parentbased_jaeger_remote (http://jaeger:5778, every 5000 ms, initial rate 0.25)"
    plain, _ = sampler_from_env({"OTEL_TRACES_SAMPLER": "jaeger_remote"})
    assert isinstance(plain, JaegerRemoteSampler)
    assert plain.config == RemoteSamplerConfig("http://localhost:5778", 60_000, 0.001)


@pytest.mark.parametrize(
    ("arg", "named"),
    [
        ("endpoint=jaeger:5778", "endpoint="),
        ("endpoint=ftp://jaeger", "endpoint="),
        ("pollingIntervalMs=fast", "pollingIntervalMs="),
        ("pollingIntervalMs=10", "pollingIntervalMs="),
        ("initialSamplingRate=2", "initialSamplingRate="),
        ("initialSamplingRate=x", "initialSamplingRate="),
        ("samplingRate=0.1", "samplingRate=0.1"),
        ("0.1", "'0.1'"),
    ],
)
def test_an_unusable_argument_is_refused_naming_the_variable_and_the_key(arg: str, named: str) -> None:
    with pytest.raises(SamplerError) as refused:
        sampler_from_env({"OTEL_TRACES_SAMPLER": "jaeger_remote", "OTEL_TRACES_SAMPLER_ARG": arg})
    assert "OTEL_TRACES_SAMPLER_ARG" in str(refused.value) and named in str(refused.value)


def test_validation_alone_starts_no_thread() -> None:
    before = threading.active_count()
    sampler_from_env({"OTEL_TRACES_SAMPLER": "parentbased_jaeger_remote"})
    assert threading.active_count() == before


# --- polling ----------------------------------------------------------------------------------------


def test_the_initial_rate_applies_until_the_first_answer_then_the_served_strategy(server: StrategyServer) -> None:
    sampler = remote(server, initial=0.0)
    assert sampler.should_sample(None, ZERO, "op").decision is Decision.DROP
    sampler.start("credit-risk-service")
    try:
        wait_polls(sampler, 1)
        assert server.services == ["credit-risk-service"]
        assert sampler.should_sample(None, ALL_ONES, "op").decision is Decision.RECORD_AND_SAMPLE
        assert "probabilistic 1" in sampler.get_description()
    finally:
        sampler.shutdown()


def test_a_changed_strategy_reaches_the_sampler_on_the_next_poll(server: StrategyServer) -> None:
    sampler = remote(server, interval_ms=100)
    sampler.start("svc")
    try:
        wait_polls(sampler, 1)
        assert sampler.should_sample(None, ALL_ONES, "op").decision is Decision.RECORD_AND_SAMPLE
        server.serve(probabilistic(0.0))
        done = sampler.polls
        wait_polls(sampler, done + 2)  # one poll may have been in flight with the old answer
        assert sampler.should_sample(None, ZERO, "op").decision is Decision.DROP
    finally:
        sampler.shutdown()


@pytest.mark.parametrize(
    ("breakage", "error_type"),
    [
        (lambda s: s.serve(b"<html>gateway</html>"), "invalid_strategy"),
        (lambda s: s.serve({"strategyType": 5}), "invalid_strategy"),
        (lambda s: s.serve(b"oops", status=503), "http_status"),
        (lambda s: setattr(s, "delay_s", 1.0), "timeout"),
    ],
)
def test_an_outage_keeps_the_last_good_strategy_warns_once_counts_every_poll_and_recovery_is_logged(
    server: StrategyServer, breakage: Any, error_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    reader = InMemoryMetricReader()
    sampler = remote(server, initial=0.0)
    sampler.start("svc", MeterProvider(metric_readers=[reader]))
    try:
        wait_polls(sampler, 1)  # the thread's first poll: probabilistic 1.0
        good = sampler.spec
        breakage(server)
        with caplog.at_level(logging.INFO, logger="otel.jaeger_remote_sampler"):
            for _ in range(3):
                sampler.poll_once(timeout_s=0.3)
            assert sampler.spec == good
            assert sampler.should_sample(None, ALL_ONES, "op").decision is Decision.RECORD_AND_SAMPLE
            assert failures(reader) == {error_type: 3}
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1 and error_type in warnings[0].getMessage()
            server.delay_s = 0.0
            server.serve(probabilistic(0.5))
            sampler.poll_once(timeout_s=2)
        assert sampler.spec.rate == 0.5
        assert any("answers again after 3 failed polls" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    finally:
        sampler.shutdown()


def test_a_down_endpoint_keeps_the_initial_rate_and_counts_connection_failures() -> None:
    with strategy_server() as gone:
        endpoint = gone.endpoint
    reader = InMemoryMetricReader()
    sampler = JaegerRemoteSampler(RemoteSamplerConfig(endpoint, 60_000, 1.0))
    sampler.start("svc", MeterProvider(metric_readers=[reader]))
    try:
        wait_polls(sampler, 1)
        sampler.poll_once(timeout_s=1)
        assert failures(reader) == {"connection": 2}
        assert sampler.should_sample(None, ALL_ONES, "op").decision is Decision.RECORD_AND_SAMPLE
    finally:
        sampler.shutdown()


def test_shutdown_stops_the_polling_thread(server: StrategyServer) -> None:
    sampler = remote(server, interval_ms=100)
    sampler.start("svc")
    wait_polls(sampler, 1)
    sampler.shutdown()
    assert sampler._thread is not None and not sampler._thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name == "otel-jaeger-remote-sampler" and t is sampler._thread]


def test_a_request_never_waits_on_a_slow_poll(server: StrategyServer) -> None:
    server.delay_s = 5.0
    sampler = remote(server, initial=1.0)
    sampler.start("svc")
    try:
        # the poll is in flight for seconds; deciding is an attribute read
        assert sampler.should_sample(None, ALL_ONES, "op").decision is Decision.RECORD_AND_SAMPLE
        assert sampler.polls == 0
    finally:
        server.delay_s = 0.0
        sampler.shutdown(timeout_s=6)


# --- with the fast tracer and the middleware ---------------------------------------------------------


def test_the_fast_tracer_and_the_sdk_tracer_decide_roots_alike_and_children_follow_the_parent(server: StrategyServer) -> None:
    server.serve(per_operation(0.0, {"POST /predict/batch": 1.0}))
    sampler = ParentBasedJaegerRemoteSampler(remote(server))
    sampler.remote.start("svc")
    try:
        wait_polls(sampler.remote, 1)
        provider, exporter = recording_provider(sampler=sampler)
        light = fast_tracer(provider, "t")
        sdk = provider.get_tracer("t")
        for tracer in (light, sdk):
            batch = tracer.start_span("POST /predict/batch")
            single = tracer.start_span("POST /predict")
            assert batch.is_recording() and batch.get_span_context().trace_flags.sampled
            assert not single.is_recording() and not single.get_span_context().trace_flags.sampled
            batch.end()
        assert [s.name for s in exporter.get_finished_spans()] == ["POST /predict/batch", "POST /predict/batch"]
    finally:
        sampler.remote.shutdown()


def test_the_middleware_names_the_span_by_route_before_sampling_so_per_endpoint_rates_apply(server: StrategyServer) -> None:
    server.serve(per_operation(0.0, {"POST /predict/batch": 1.0, "GET /items/{item_id}": 1.0}))
    sampler = ParentBasedJaegerRemoteSampler(remote(server))
    sampler.remote.start("svc")
    try:
        wait_polls(sampler.remote, 1)
        exporter = InMemorySpanExporter()
        overrides = TelemetryOverrides(span_processors=[SimpleSpanProcessor(exporter)], sampler=sampler, prometheus=False)
        telemetry = setup_telemetry({}, default_service_name="svc", overrides=overrides)
        app = FastAPI(telemetry=telemetry.fastapi_config())

        @app.post("/predict")
        async def predict() -> dict[str, int]:
            return {"ok": 1}

        @app.post("/predict/batch")
        async def batch() -> dict[str, int]:
            return {"ok": 1}

        @app.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, int]:
            return {"id": item_id}

        instrument(app, telemetry)
        with TestClient(app) as client:
            flags = {}
            for path in ("/predict", "/predict/batch", "/items/7", "/items/8"):
                response = client.request("GET" if path.startswith("/items") else "POST", path)
                assert response.status_code == 200
                flags[path] = int(response.headers["traceresponse"].rsplit("-", 1)[1], 16) & 1
        assert flags == {"/predict": 0, "/predict/batch": 1, "/items/7": 1, "/items/8": 1}
        assert sorted(s.name for s in exporter.get_finished_spans()) == [
            "GET /items/{item_id}",
            "GET /items/{item_id}",
            "POST /predict/batch",
        ]
    finally:
        sampler.remote.shutdown()

"""``otel.compat``: each check notices what it relies on going missing, and each fallback (the SDK's own
tracer, metric instruments, span exporters) delivers the same spans, events and metrics."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased

from otel import ProfilerConfig, TelemetryOverrides, compat, instrument, setup_telemetry, stage
from otel.spans import FastTracer, SdkSpanTracer
from tests.otel import planted

FLAGS = ["FAST_SPANS", "SAMPLER_SHORTCUT", "FAST_METRICS"]


class Refused(Exception):
    """A ``SpanError``: says its error.type and adds an attribute to the exception event."""

    error_type = "refused"

    def span_attributes(self) -> dict[str, Any]:
        return {"why": "planted"}


def _signals(monkeypatch: pytest.MonkeyPatch, off: list[str]) -> dict[str, Any]:
    """One toy app's request (two stages, the second failing), with the ``off`` fast paths turned off."""
    for flag in off:
        monkeypatch.setattr(compat, flag, False)
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    overrides = TelemetryOverrides(span_processors=[SimpleSpanProcessor(spans)], metric_readers=[reader], prometheus=False)
    telemetry = setup_telemetry({}, default_service_name="toy", overrides=overrides, env={})
    app = FastAPI()
    profiler = ProfilerConfig(sample_rate=1.0, interval_ms=1.0, slow_ms=0, application_packages=("tests",))
    instrument(app, telemetry, profiler=profiler, shutdown=False)

    @app.get("/work")
    def work() -> dict[str, str]:
        with stage("prepare"):
            planted.slow_alpha(30)
        with stage("compute"):
            raise Refused("no")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/work").status_code == 500
    metrics = {
        metric.name: metric
        for rm in (reader.get_metrics_data() or pytest.fail("no metrics")).resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    telemetry.shutdown()
    return {"tracer": telemetry.tracer, "spans": {s.name: s for s in spans.get_finished_spans()}, "metrics": metrics}


@pytest.fixture(scope="module")
def fast() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _signals(monkeypatch, [])


@pytest.mark.parametrize("off", [[flag] for flag in FLAGS] + [FLAGS], ids="+".join)
def test_a_fallback_delivers_the_same_spans_events_and_metrics(
    off: list[str], fast: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = _signals(monkeypatch, off)
    assert isinstance(slow["tracer"], SdkSpanTracer if "FAST_SPANS" in off else FastTracer)
    for signals in (fast, slow):
        spans = signals["spans"]
        assert set(spans) == {"GET /work", "prepare", "compute"}
        server = spans["GET /work"]
        assert {spans["prepare"].parent.span_id, spans["compute"].parent.span_id} == {server.context.span_id}
        compute = spans["compute"]
        assert compute.attributes["error.type"] == "refused" and compute.status.status_code.name == "ERROR"
        (exception,) = [e for e in compute.events if e.name == "exception"]
        assert exception.attributes["why"] == "planted"
        hot = [e.attributes["code.function.name"] for e in spans["prepare"].events if e.name == "profile.hot_function"]
        assert hot[:1] == [planted.ALPHA]
        metrics = signals["metrics"]
        assert {"ml.stage.duration", "ml.errors", "http.server.request.duration"} <= set(metrics)
        stage_points = {p.attributes["ml.stage"]: p for p in metrics["ml.stage.duration"].data.data_points}
        assert set(stage_points) == {"prepare", "compute"} and stage_points["prepare"].count == 1
        exemplar_spans = {e.span_id for p in stage_points.values() for e in p.exemplars}
        assert spans["prepare"].context.span_id in exemplar_spans, "the stage point's exemplar is the stage span"
        (errors,) = metrics["ml.errors"].data.data_points
        assert errors.value == 1 and errors.attributes == {"error.type": "refused", "ml.stage": "compute"}


def test_each_check_names_what_it_misses(monkeypatch: pytest.MonkeyPatch) -> None:
    assert compat._check_spans() is None and compat._check_sampler() is None and compat._check_metrics() is None
    monkeypatch.delattr(SynchronousMultiSpanProcessor, "_on_ending")
    monkeypatch.delattr(SpanProcessor, "_on_ending")
    assert compat._check_spans() == "SpanProcessor._on_ending"
    monkeypatch.setattr(ParentBased, "__init__", lambda self, root, **kwargs: None)
    assert compat._check_sampler() == "ParentBased._root"
    from opentelemetry.sdk.metrics.export import MetricReader

    monkeypatch.delattr(MetricReader, "_receive_metrics")
    assert compat._check_metrics() == "MetricReader._receive_metrics"


def test_a_fallback_is_one_warning_per_process(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(compat, "_FAILED", {"FAST_METRICS": ("MetricReader._receive_metrics", "request metrics via the SDK")})
    monkeypatch.setattr(compat, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="otel.compat"):
        assert compat.warn_fallbacks() == ["FAST_METRICS"]
        compat.warn_fallbacks()
    (record,) = caplog.records
    assert "MetricReader._receive_metrics" in record.getMessage()

"""Telemetry never hurts serving: the collector down, hanging, slow or flapping, with the production pipeline.

The app is the real one with the real OTLP exporters behind ``BatchSpanProcessor`` /
``BatchLogRecordProcessor`` / ``PeriodicExportingMetricReader`` (built from ``OTEL_*`` exactly as in
production), pointed at a real OTLP receiver that the test stops, hangs, slows and brings back.
What is asserted is what an operator cares about: every request is answered, the SDK's queues
never exceed ``OTEL_BSP_MAX_QUEUE_SIZE`` / ``OTEL_BLRP_MAX_QUEUE_SIZE``, what is dropped is counted
(``otel.sdk.processor.*.processed`` with ``error.type=queue_full``, ``otel.sdk.exporter.*.exported``
with an ``error.type``), and export resumes on its own: spans and logs made after the collector
returns arrive. No latency is measured here (that is bench/'s job).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.schemas import EXAMPLE_APPLICATION
from service.app import create_app
from service.config import Settings
from tests.reliability.harness import QUEUE_SIZE, FaultyCollector, Sample, scrape, total, trace_id

REQUESTS_DURING_FAULT = 120  # x5 spans and 1 log record each: far more than one queue holds
RESUME_WAIT_S = 30.0  # generous: gRPC reconnect and the exporter's own backoff, never a timing assertion


@pytest.fixture(params=["grpc", "http/protobuf"])
def collector(request: pytest.FixtureRequest) -> Iterator[FaultyCollector]:
    server = FaultyCollector(request.param).up()
    yield server
    server.heal()
    server.down()


@pytest.fixture
def client(collector: FaultyCollector, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[TestClient]:
    for name, value in collector.env().items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env({}, request_log="all", profile_sample_rate=0.0, telemetry_dir=tmp_path)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _predict_all(client: TestClient, count: int) -> list[str]:
    """Send ``count`` predictions; every one must be answered 200. Returns their trace ids."""
    ids = []
    for _ in range(count):
        response = client.post("/predict", json=EXAMPLE_APPLICATION)
        assert response.status_code == 200, response.text
        ids.append(trace_id(response))
    return ids


def _internal_metrics(client: TestClient) -> list[Sample]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return scrape(response.text)


def _assert_queues_bounded(samples: list[Sample]) -> None:
    for signal in ("span", "log"):
        capacity = total(samples, f"otel_sdk_processor_{signal}_queue_capacity")
        size = total(samples, f"otel_sdk_processor_{signal}_queue_size")
        assert capacity == QUEUE_SIZE, f"{signal} queue capacity {capacity} is not the configured {QUEUE_SIZE}"
        assert 0 <= size <= capacity, f"{signal} queue holds {size} > capacity {capacity}"


def _assert_resumes(collector: FaultyCollector, client: TestClient) -> None:
    """After the fault, new spans and new log records reach the collector without any restart."""
    after = set(_predict_all(client, 5))
    arrived = collector.received.wait_for(lambda: after <= collector.server_span_trace_ids(), RESUME_WAIT_S)
    assert arrived, f"{len(after - collector.server_span_trace_ids())}/5 traces sent after the collector returned never arrived"
    assert collector.received.wait_for(lambda: after <= collector.log_trace_ids(), RESUME_WAIT_S), "request logs did not resume"
    metric_batches = len(collector.received.metrics)
    assert collector.received.wait_for(lambda: len(collector.received.metrics) > metric_batches, RESUME_WAIT_S), (
        "metrics did not resume"
    )


def _failed_exports_counted(collector: FaultyCollector, client: TestClient) -> bool:
    """``otel.sdk.exporter.span.exported`` gains points with an ``error.type`` (recorded when an export gives up)."""

    def counted() -> bool:
        return any(
            s.name == "otel_sdk_exporter_span_exported_total" and s.labels.get("error_type") and s.value > 0
            for s in _internal_metrics(client)
        )

    return collector.received.wait_for(counted, RESUME_WAIT_S)


def _warm(collector: FaultyCollector, client: TestClient) -> None:
    before = set(_predict_all(client, 3))
    assert collector.received.wait_for(lambda: before <= collector.server_span_trace_ids(), RESUME_WAIT_S), (
        "pipeline never worked"
    )


def test_collector_down_connection_refused(collector: FaultyCollector, client: TestClient) -> None:
    _warm(collector, client)
    collector.down()
    _predict_all(client, REQUESTS_DURING_FAULT)
    samples = _internal_metrics(client)
    _assert_queues_bounded(samples)
    assert total(samples, "otel_sdk_processor_span_processed_total", error_type="queue_full") > 0
    assert total(samples, "otel_sdk_processor_log_processed_total", error_type="queue_full") > 0
    assert _failed_exports_counted(collector, client), "failed exports are not counted"
    collector.heal()
    _assert_resumes(collector, client)


def test_collector_hanging_accepts_and_never_answers(collector: FaultyCollector, client: TestClient) -> None:
    _warm(collector, client)
    collector.hang()
    _predict_all(client, REQUESTS_DURING_FAULT)
    samples = _internal_metrics(client)
    _assert_queues_bounded(samples)
    assert total(samples, "otel_sdk_processor_span_processed_total", error_type="queue_full") > 0
    # OTEL_EXPORTER_OTLP_TIMEOUT=1000 is milliseconds: a hung export gives up and is counted as failed
    # within seconds (the SDK alone would read it as 1000 s and block the export thread that long).
    assert _failed_exports_counted(collector, client), "a hung export was never given up on"
    collector.heal()
    _assert_resumes(collector, client)


def test_collector_slow_answers_late(collector: FaultyCollector, client: TestClient) -> None:
    _warm(collector, client)
    collector.slow(0.3)  # under the 1 s export timeout: exports succeed, just slowly
    _predict_all(client, REQUESTS_DURING_FAULT)
    samples = _internal_metrics(client)
    _assert_queues_bounded(samples)
    assert total(samples, "otel_sdk_processor_span_processed_total", error_type="queue_full") > 0, (
        "a slow collector must shed, not buffer"
    )
    collector.heal()
    _assert_resumes(collector, client)


def test_collector_flapping(collector: FaultyCollector, client: TestClient) -> None:
    _warm(collector, client)
    for _ in range(4):
        collector.down()
        _predict_all(client, 25)
        _assert_queues_bounded(_internal_metrics(client))
        collector.up()
        _predict_all(client, 25)
        _assert_queues_bounded(_internal_metrics(client))
    _assert_resumes(collector, client)

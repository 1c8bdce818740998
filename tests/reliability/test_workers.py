"""``python -m service --workers 2``: two processes, two identities, nothing lost or counted twice.

With OTLP to a real receiver: each worker's resource has its own ``service.instance.id``, the
``ml.predictions`` counters of both workers sum to exactly the requests sent, and every request
left exactly one server span (none lost, none duplicated, span ids unique). With the embedded
default, ``/metrics`` says it is one worker's view (``X-Metrics-Scope: worker`` and a comment naming
the instance), so nobody mistakes one scrape for the service's total.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.api.schemas import EXAMPLE_APPLICATION
from tests.reliability.harness import FaultyCollector, ServiceProcess

REQUESTS = 60
INSTANCE = re.compile(r"^# Metrics of one worker process \(service\.instance\.id=([0-9a-f-]{36})\)", re.MULTILINE)


def _attrs(key_values: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in key_values}


@pytest.fixture
def two_workers_over_otlp(tmp_path: Path) -> Iterator[tuple[FaultyCollector, ServiceProcess]]:
    collector = FaultyCollector("grpc").up()
    env = {**collector.env(2000), "OTEL_BSP_MAX_QUEUE_SIZE": "2048", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "512"}
    env |= {"OTEL_BLRP_MAX_QUEUE_SIZE": "2048", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "512", "TELEMETRY_DIR": str(tmp_path)}
    service = ServiceProcess(env, tmp_path / "stdout.log", workers=2)
    try:
        service.wait_ready()
        yield collector, service
    finally:
        service.kill()
        collector.down()


def test_two_workers_two_instances_metrics_sum_and_spans_are_exact(
    two_workers_over_otlp: tuple[FaultyCollector, ServiceProcess],
) -> None:
    collector, service = two_workers_over_otlp
    for _ in range(REQUESTS):  # a fresh connection each time, so both workers get a share
        assert httpx.post(f"{service.url}/predict", json=EXAMPLE_APPLICATION, timeout=10.0).status_code == 200
    service.terminate()  # each worker's lifespan flushes its spans and its final cumulative metrics
    received = collector.received

    metric_instances = {
        _attrs(rm.resource.attributes)["service.instance.id"] for req in received.metrics for rm in req.resource_metrics
    }
    assert len(metric_instances) == 2, f"expected two workers' identities, got {metric_instances}"

    last: dict[tuple[str, str], int] = {}  # (instance, class) -> latest cumulative value
    for req in received.metrics:
        for rm in req.resource_metrics:
            instance = _attrs(rm.resource.attributes)["service.instance.id"]
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == "ml.predictions":
                        for point in metric.sum.data_points:
                            key = (instance, str(_attrs(point.attributes)["ml.prediction.class"]))
                            last[key] = max(last.get(key, 0), point.as_int)
    assert sum(last.values()) == REQUESTS, f"ml.predictions over both workers: {last}"

    server_spans = [(resource, span) for resource, span in received.spans() if span.name == "POST /predict"]
    assert len(server_spans) == REQUESTS, f"{len(server_spans)} server spans for {REQUESTS} requests"
    assert len({span.span_id for _, span in server_spans}) == REQUESTS, "a span arrived twice"
    span_instances = {_attrs(resource.attributes)["service.instance.id"] for resource, _ in server_spans}
    assert span_instances <= metric_instances


def test_metrics_endpoint_says_it_is_one_workers_view(tmp_path: Path) -> None:
    service = ServiceProcess({"TELEMETRY_DIR": str(tmp_path)}, tmp_path / "stdout.log", workers=2)
    try:
        service.wait_ready()
        seen: set[str] = set()
        for _ in range(100):
            response = httpx.get(f"{service.url}/metrics", timeout=10.0)  # new connection: either worker may answer
            assert response.status_code == 200
            assert response.headers["x-metrics-scope"] == "worker"
            match = INSTANCE.search(response.text)
            assert match, response.text[:300]
            seen.add(match.group(1))
            if len(seen) == 2:
                break
        assert len(seen) == 2, "every scrape came from one worker; the per-worker label could not be checked against two"
    finally:
        service.kill()

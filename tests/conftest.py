"""Fixtures that build the real app with injected in-memory telemetry (no globals touched)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler

from otel.setup import TelemetryOverrides
from service.api.schemas import EXAMPLE_APPLICATION
from service.app import create_app
from service.config import Settings


@dataclass
class Captured:
    """The in-memory telemetry of one app, with small honest lookups."""

    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    logs: InMemoryLogRecordExporter

    def finished_spans(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        matches = [s for s in self.finished_spans() if s.name == name]
        assert len(matches) == 1, f"expected one span {name!r}, got {[s.name for s in self.finished_spans()]}"
        return matches[0]

    def metric_points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        points: list[Any] = []
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


def build_client(settings: Settings | None = None, sampler: Sampler = ALWAYS_ON) -> tuple[TestClient, Captured]:
    captured = Captured(InMemorySpanExporter(), InMemoryMetricReader(), InMemoryLogRecordExporter())
    overrides = TelemetryOverrides(
        span_processors=[SimpleSpanProcessor(captured.spans)],
        metric_readers=[captured.metrics],
        log_processors=[SimpleLogRecordProcessor(captured.logs)],
        sampler=sampler,
    )
    app = create_app(settings or Settings.from_env({}), telemetry_overrides=overrides)
    return TestClient(app), captured


@pytest.fixture
def example() -> dict[str, Any]:
    return dict(EXAMPLE_APPLICATION)


@pytest.fixture
def served() -> Iterator[tuple[TestClient, Captured]]:
    client, captured = build_client()
    with client:
        yield client, captured


@pytest.fixture
def client(served: tuple[TestClient, Captured]) -> TestClient:
    return served[0]


@pytest.fixture
def captured(served: tuple[TestClient, Captured]) -> Captured:
    return served[1]

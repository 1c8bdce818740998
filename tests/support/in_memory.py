"""A tracer provider whose finished spans land in memory: the SDK's own exporter, no backend."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def recording_provider(**provider_options: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    """``TracerProvider(**provider_options)`` exporting every finished span to the returned exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(**provider_options)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter

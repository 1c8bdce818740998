"""A tracer provider whose finished spans land in memory: the SDK's own exporter, no backend."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import SpanLimits, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel.spans import FastTracer

_PARTS: dict[int, tuple[TracerProvider, SynchronousMultiSpanProcessor, SpanLimits]] = {}


def recording_provider(**provider_options: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    """``TracerProvider(**provider_options)`` exporting every finished span to the returned exporter.

    Built as ``setup_telemetry`` builds it (its span processor and limits passed in), so ``fast_tracer`` works on it.
    """
    exporter = InMemorySpanExporter()
    processor = provider_options.pop("active_span_processor", None) or SynchronousMultiSpanProcessor()
    limits = provider_options.pop("span_limits", None) or SpanLimits()
    provider = TracerProvider(active_span_processor=processor, span_limits=limits, **provider_options)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _PARTS[id(provider)] = (provider, processor, limits)
    return provider, exporter


def fast_tracer(provider: TracerProvider, scope_name: str, scope_version: str | None = None) -> FastTracer:
    """A ``FastTracer`` on a provider from ``recording_provider``."""
    _, processor, limits = _PARTS[id(provider)]
    return FastTracer(provider, processor, limits, scope_name, scope_version)

"""The OTLP span exporters (gRPC, HTTP): the SDK's, sending bytes made by ``otel.span_encoder.SpanEncoder``.

The SDK's encoder builds a protobuf object per span, attribute and value; ``SpanEncoder`` writes the
same ``ExportTraceServiceRequest`` straight to wire bytes (BENCHMARKS.md, "Where the CPU goes: telemetry pieces in isolation").
Everything
else (environment variables, retries, TLS, compression, the exporter's own metrics) is the SDK
exporters'. Where the installed exporter lacks what the swap needs, the SDK exporter is used as it is
(``otel.compat``).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter

from otel import compat
from otel.span_encoder import SpanEncoder

__all__ = ["grpc_span_exporter", "http_span_exporter"]


def grpc_span_exporter(**kwargs: Any) -> SpanExporter:
    """The SDK's ``OTLPSpanExporter`` (gRPC) built with ``kwargs``, encoding with a ``SpanEncoder`` of its own."""
    return compat.grpc_span_exporter(SpanEncoder().encode, **kwargs)


def http_span_exporter(**kwargs: Any) -> SpanExporter:
    """The SDK's ``OTLPSpanExporter`` (HTTP/protobuf) built with ``kwargs``, encoding with a ``SpanEncoder`` of its own."""
    return compat.http_span_exporter(SpanEncoder().encode, **kwargs)

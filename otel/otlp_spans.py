"""The OTLP span exporters (gRPC, HTTP): the SDK's, encoding with ``otel.span_encoder.SpanEncoder``.

The SDK's encoder builds a protobuf object per span, attribute and value; ``SpanEncoder`` writes the
same ``ExportTraceServiceRequest`` straight to wire bytes (see ``otel.span_encoder``). Everything else
(environment variables, retries, TLS, compression, the exporter's own metrics) is the SDK exporters'.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._common import RequestPayloadTooLargeError, _is_request_too_large
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel.attributes import HTTP_STATUS
from otel.span_encoder import SpanEncoder

__all__ = ["FastGrpcSpanExporter", "FastHttpSpanExporter", "SpanEncoder"]

log = logging.getLogger(__name__)


class _RawTraceServiceStub:
    """``TraceService.Export`` taking already-serialized request bytes."""

    def __init__(self, channel: Any) -> None:
        self.Export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )


class FastGrpcSpanExporter(GrpcSpanExporter):
    """The SDK's OTLP/gRPC span exporter (its env variables, retries, TLS, compression and metrics), encoding
    with ``SpanEncoder``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._encoder = SpanEncoder()
        self._stub = _RawTraceServiceStub  # also what a reconnect builds
        self._client = _RawTraceServiceStub(self._channel)

    def _translate_data(self, data: Sequence[ReadableSpan]) -> bytes:  # type: ignore[override]
        return self._encoder.encode(data)


class FastHttpSpanExporter(HttpSpanExporter):
    """The SDK's OTLP/HTTP span exporter, encoding with ``SpanEncoder``: its ``export`` with the encoder swapped."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._encoder = SpanEncoder()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            log.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                serialized = self._encoder.encode(spans)
            except Exception as error:
                log.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            if _is_request_too_large(serialized, self._max_request_size):
                log.warning(
                    "Dropping span batch: %d bytes exceeds max_request_size %d bytes", len(serialized), self._max_request_size
                )
                result.error = RequestPayloadTooLargeError(f"span batch of {len(serialized)} bytes over {self._max_request_size}")
                return SpanExportResult.FAILURE
            sent = self._client.export(serialized)
            if not sent.success:
                result.error = sent.error
                result.error_attrs = {HTTP_STATUS: sent.status_code} if sent.status_code is not None else None
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

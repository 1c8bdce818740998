"""Which exporter each signal gets: OTLP when an endpoint is configured, else the embedded default.

The OTLP exporters get no endpoint arguments so that they read every ``OTEL_EXPORTER_OTLP_*``
variable (endpoint, headers, certificate, compression) themselves; they do get the meter
provider, for their own ``otel.sdk.exporter.*`` metrics (exported, failed, in flight), and the
timeout, because opentelemetry-python 1.45 reads ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_TIMEOUT`` as
seconds where the spec says milliseconds (open-telemetry/opentelemetry-python#4044): ``2000``
would let one export to a hung collector block its export thread for 33 minutes. The OTLP/HTTP
exporters also get a session that keeps a configured CA file (``otel.http_session``). Span batches
are encoded by ``otel.span_encoder`` (the same request, cheaper: BENCHMARKS.md); the embedded
default's files by the same encoder with an OTLP/JSON layout (``otel.otlp_json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from otel import compat
from otel.files import JsonLinesLogExporter, JsonLinesSpanExporter, RotatingJsonLines


class FileSink:
    """Lazily opened JSON-lines files of the embedded default, one per signal."""

    def __init__(self, directory: Path, max_bytes: int, backups: int) -> None:
        self.directory, self.max_bytes, self.backups = directory, max_bytes, backups

    def file(self, name: str) -> RotatingJsonLines:
        """The rotating file ``name`` in this sink's directory."""
        return RotatingJsonLines(self.directory / name, self.max_bytes, self.backups)


def _otlp_protocol(env: Mapping[str, str], signal: str) -> str | None:
    """The OTLP protocol for ``signal``, or None when no endpoint is configured for it."""
    if not (env.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return None
    protocol = env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if protocol not in ("grpc", "http/protobuf"):
        raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: use grpc or http/protobuf")
    return protocol


def _timeout_s(env: Mapping[str, str], signal: str) -> float | None:
    """The signal's export timeout in seconds, read as the spec's milliseconds; None leaves the SDK default (10 s)."""
    raw = env.get(f"OTEL_EXPORTER_OTLP_{signal}_TIMEOUT") or env.get("OTEL_EXPORTER_OTLP_TIMEOUT")
    try:
        return float(raw) / 1000.0 if raw else None
    except ValueError:
        return None


def _off(env: Mapping[str, str], signal: str) -> bool:
    return env.get(f"OTEL_{signal}_EXPORTER", "").strip().lower() == "none"


def span_exporter(env: Mapping[str, str], sink: FileSink, meter_provider: Any = None) -> tuple[Any, str]:
    """The span exporter ``env`` asks for (OTLP gRPC/HTTP, or ``sink``'s traces file) and how to name it; (None, "none") when
    off."""
    if _off(env, "TRACES"):
        return None, "none"
    protocol = _otlp_protocol(env, "TRACES")
    if protocol == "grpc":
        from otel.otlp_spans import grpc_span_exporter

        return grpc_span_exporter(timeout=_timeout_s(env, "TRACES"), meter_provider=meter_provider), "otlp/grpc"
    if protocol == "http/protobuf":
        from otel.http_session import session_for
        from otel.otlp_spans import http_span_exporter

        spans = http_span_exporter(
            timeout=_timeout_s(env, "TRACES"), session=session_for(env, "TRACES"), meter_provider=meter_provider
        )
        return spans, "otlp/http"
    return JsonLinesSpanExporter(sink.file("traces.jsonl")), f"file:{sink.directory / 'traces.jsonl'}"


def log_exporter(env: Mapping[str, str], sink: FileSink, meter_provider: Any = None) -> tuple[Any, str]:
    """The log exporter ``env`` asks for (OTLP gRPC/HTTP, or ``sink``'s logs file) and how to name it; (None, "none") when off."""
    if _off(env, "LOGS"):
        return None, "none"
    protocol = _otlp_protocol(env, "LOGS")
    if protocol == "grpc":
        return compat.grpc_log_exporter(timeout=_timeout_s(env, "LOGS"), meter_provider=meter_provider), "otlp/grpc"
    if protocol == "http/protobuf":
        from otel.http_session import session_for

        logs = compat.http_log_exporter(
            timeout=_timeout_s(env, "LOGS"), session=session_for(env, "LOGS"), meter_provider=meter_provider
        )
        return logs, "otlp/http"
    return JsonLinesLogExporter(sink.file("logs.jsonl")), f"file:{sink.directory / 'logs.jsonl'}"


def metric_exporter(env: Mapping[str, str]) -> tuple[Any, str]:
    """OTLP metrics when configured; the Prometheus ``/metrics`` reader is added by the caller either way."""
    if _off(env, "METRICS"):
        return None, "prometheus"
    protocol = _otlp_protocol(env, "METRICS")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics

        return GrpcMetrics(timeout=_timeout_s(env, "METRICS")), "otlp/grpc+prometheus"
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics

        from otel.http_session import session_for

        return HttpMetrics(timeout=_timeout_s(env, "METRICS"), session=session_for(env, "METRICS")), "otlp/http+prometheus"
    return None, "prometheus"

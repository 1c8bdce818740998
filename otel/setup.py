"""Telemetry providers built from the standard ``OTEL_*`` environment.

Most apps use the package's public API instead (``otel.setup_telemetry``, ``otel.instrument``: see ``otel``).

What is read from the environment, by the SDK itself wherever it can:

* ``OTEL_SDK_DISABLED=true``: no providers at all; nothing telemetry-related runs per request.
* ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``: merged into the resource.
* ``OTEL_EXPORTER_OTLP[_TRACES|_METRICS|_LOGS]_{ENDPOINT,PROTOCOL,HEADERS,TIMEOUT,CERTIFICATE,COMPRESSION}``:
  an endpoint switches that signal to OTLP (``grpc`` or ``http/protobuf``, the spec default);
  without one the embedded default is used: metrics on ``/metrics``, traces and logs as OTLP/JSON
  lines under ``telemetry_dir``. ``OTEL_{TRACES,METRICS,LOGS}_EXPORTER=none`` turns a signal off.
* ``OTEL_TRACES_SAMPLER[_ARG]``: built by ``otel.sampling``, which refuses an unknown name or an
  invalid ratio (``SamplerError``) where the SDK would fall back to sampling everything;
  ``[parentbased_]jaeger_remote`` starts polling Jaeger here and stops at ``shutdown()``.
* ``OTEL_BSP_*``, ``OTEL_BLRP_*``, ``OTEL_METRIC_EXPORT_INTERVAL``, ``OTEL_METRICS_EXEMPLAR_FILTER``,
  ``OTEL_SPAN_*_LIMIT``, ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``: passed through to the SDK untouched.

Providers are created per process, so call this in each worker after fork (the app factory does).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Sampler
from prometheus_client import CollectorRegistry

from otel import compat
from otel.compat import BatchLogRecordProcessor, LoggerProvider, LogRecordProcessor
from otel.fastmetrics import FastMetrics
from otel.jaeger_remote_sampler import remote_sampler_of
from otel.sampling import sampler_from_env
from otel.spans import FastTracer, SdkSpanTracer, SpanTracer

INSTRUMENTATION_NAME = "otel-ml"


@dataclass(frozen=True)
class TelemetryOverrides:
    """Pipeline pieces that replace the environment's exporters (tests inject in-memory ones)."""

    span_processors: Sequence[SpanProcessor] = ()
    metric_readers: Sequence[MetricReader] = ()
    log_processors: Sequence[LogRecordProcessor] = ()
    sampler: Sampler | None = None
    prometheus: bool = True  # also serve /metrics from these providers


@dataclass
class Telemetry:
    """The providers of one process, plus what the request path needs from them."""

    enabled: bool
    resource: Resource = field(default_factory=Resource.get_empty)
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    logger_provider: LoggerProvider | None = None
    prometheus_registry: CollectorRegistry | None = None
    fast_metrics: FastMetrics | None = None
    exporters: dict[str, str] = field(default_factory=dict)
    sampler: str = ""  # the effective head sampler, as the startup line states it
    push_readers: list[MetricReader] = field(default_factory=list)  # the OTLP metric readers (pushing, periodic)
    on_shutdown: list[Callable[[], None]] = field(default_factory=list)  # background work to stop first (sampler polling)

    tracer: SpanTracer | None = None  # starts the server and stage spans (otel.spans)

    def __post_init__(self) -> None:
        self.meter: metrics.Meter = (
            self.meter_provider.get_meter(INSTRUMENTATION_NAME) if self.meter_provider else metrics.NoOpMeter("noop")
        )

    def describe(self) -> str:
        """One line for the startup log: each signal's exporter (with its endpoint) and the sampler."""
        if not self.enabled:
            return "disabled"
        parts = [", ".join(f"{signal} {exporter}" for signal, exporter in self.exporters.items())]
        parts.append(f"sampler {self.sampler}" if self.sampler else "")
        return "; ".join(part for part in parts if part)

    @classmethod
    def disabled(cls) -> Telemetry:
        """Telemetry that records nothing (``OTEL_SDK_DISABLED=true``)."""
        return cls(enabled=False)

    @staticmethod
    def fastapi_config() -> Any:
        """Switch FastAPI's native telemetry off, even when global providers are set.

        ``instrument_app`` makes the one HTTP server span instead (see ``otel.middleware`` for why);
        with both on, a request would get two.
        """
        return {"tracing": False, "metrics": False, "logs": False, "operation_spans": False, "auto_configure": False}

    def push_first_metrics(self) -> None:
        """Export metrics once now, in the background, when they are pushed (OTLP); a no-op otherwise.

        A pushing reader's first export comes one ``OTEL_METRIC_EXPORT_INTERVAL`` (60 s by default) after
        start, with that interval's traffic already counted: Prometheus's first sample of each series is
        then the whole count, which ``increase()`` and ``rate()`` never see. Exported now, every counter is
        first seen at its start value. Never blocks: a collector that is down only delays this thread.
        """
        # Only the pushing readers: a flush of the whole provider would also queue a collection in the
        # Prometheus reader, which the next /metrics scrape would then serve twice.
        for reader in self.push_readers:
            threading.Thread(target=reader.force_flush, name="otel-first-metrics", daemon=True).start()

    def force_flush(self, timeout_ms: int = 5000) -> None:
        """Export whatever the three signals hold now, waiting up to ``timeout_ms`` per provider."""
        for provider in (self.tracer_provider, self.meter_provider, self.logger_provider):
            if provider is not None:
                provider.force_flush(timeout_ms)

    def shutdown(self, deadline_s: float | None = None) -> bool:
        """Flush and stop all three signals; give up after ``deadline_s`` (a dead collector must not hang exit).

        Returns whether shutdown finished in time.
        """
        if deadline_s is None:
            deadline_s = export_timeout_s() + 1.0
        providers = [p for p in (self.tracer_provider, self.meter_provider, self.logger_provider) if p is not None]

        def stop_all() -> None:
            for stop in self.on_shutdown:
                try:
                    stop()
                except Exception:
                    pass
            for provider in providers:
                try:
                    provider.shutdown()
                except Exception:
                    pass

        worker = threading.Thread(target=stop_all, name="otel-shutdown", daemon=True)
        worker.start()
        worker.join(deadline_s)
        return not worker.is_alive()


def export_timeout_s(env: Mapping[str, str] | None = None) -> float:
    """``OTEL_EXPORTER_OTLP_TIMEOUT`` in seconds (the spec gives it in milliseconds; default 10 s)."""
    env = os.environ if env is None else env
    try:
        return float(env.get("OTEL_EXPORTER_OTLP_TIMEOUT", "10000")) / 1000.0
    except ValueError:
        return 10.0


def otlp_endpoint(env: Mapping[str, str], signal: str, protocol: str) -> str:
    """Where OTLP ``signal`` (``traces``, ``metrics``, ``logs``) goes, resolved as the exporters resolve it.

    A signal's own ``OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`` is used as is; the shared
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` gets ``/v1/<signal>`` appended over HTTP (the specification's rule).
    """
    own = env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    if own:
        return own
    shared = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if protocol == "grpc" or not shared:
        return shared
    return f"{shared.rstrip('/')}/v1/{signal}"


def _with_endpoints(exporters: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """``otlp/http`` becomes ``otlp/http http://collector:4318/v1/traces``: the startup line says where data goes."""
    out = {}
    for signal, exporter in exporters.items():
        if exporter.startswith("otlp/"):
            protocol = exporter.split("/", 1)[1].split("+", 1)[0]
            exporter = f"{exporter} {otlp_endpoint(env, signal, protocol)}".rstrip()
        out[signal] = exporter
    return out


def sdk_disabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``OTEL_SDK_DISABLED`` is ``true`` in ``env`` (default ``os.environ``)."""
    env = os.environ if env is None else env
    return env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def setup_telemetry(
    resource_attributes: Mapping[str, Any] | None = None,
    *,
    default_service_name: str,
    telemetry_dir: Path = Path("telemetry"),
    file_max_bytes: int = 50 * 1_048_576,
    file_backups: int = 3,
    overrides: TelemetryOverrides | None = None,
    env: Mapping[str, str] | None = None,
) -> Telemetry:
    """Build this process's providers from ``env`` (default ``os.environ``) and return them as a ``Telemetry``.

    ``resource_attributes`` fill in what ``OTEL_RESOURCE_ATTRIBUTES`` leaves unset; ``default_service_name``
    applies when ``OTEL_SERVICE_NAME`` is unset. Without an OTLP endpoint, traces and logs go to rotating
    OTLP/JSON-lines files under ``telemetry_dir`` (``file_max_bytes`` each, ``file_backups`` kept).
    ``overrides`` (tests) replace the env-chosen exporters. Raises ``otel.sampling.SamplerError`` for an
    unusable ``OTEL_TRACES_SAMPLER``. Where the installed SDK lacks what a fast path needs, the SDK's
    own component is used and one WARNING says so (``otel.compat``).
    """
    env = os.environ if env is None else env
    if sdk_disabled(env):
        return Telemetry.disabled()
    resource = _resource(resource_attributes or {}, default_service_name)
    exporters: dict[str, str] = {}
    from otel import exporters as chosen  # imports exporter packages only when really exporting

    readers: list[MetricReader] = list(overrides.metric_readers) if overrides else []
    push_readers: list[MetricReader] = []
    if overrides is None:
        metric_exporter, exporters["metrics"] = chosen.metric_exporter(env)
        if metric_exporter is not None:
            push_readers.append(PeriodicExportingMetricReader(metric_exporter))
            readers += push_readers
    registry: CollectorRegistry | None = None
    if overrides is None or overrides.prometheus:
        registry = CollectorRegistry(auto_describe=True)
        readers.append(compat.prometheus_reader(registry))
        exporters.setdefault("metrics", "prometheus")
    meter_provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
    compat.warn_fallbacks()
    fast_metrics = FastMetrics(INSTRUMENTATION_NAME, resource)
    attached = compat.FAST_METRICS and all([compat.attach_reader(r, fast_metrics.merge_into) for r in readers])  # noqa: C419 - attach every one
    if not attached:
        fast_metrics = FastMetrics(INSTRUMENTATION_NAME, resource, sdk_meter=meter_provider.get_meter(INSTRUMENTATION_NAME))

    if overrides is not None and overrides.sampler is not None:
        sampler, sampler_text = overrides.sampler, overrides.sampler.get_description()
    else:
        sampler, sampler_text = sampler_from_env(env)
    if overrides is not None:
        span_processors, log_processors = list(overrides.span_processors), list(overrides.log_processors)
    else:
        sink = chosen.FileSink(telemetry_dir, file_max_bytes, file_backups)
        span_exporter, exporters["traces"] = chosen.span_exporter(env, sink, meter_provider)
        log_exporter, exporters["logs"] = chosen.log_exporter(env, sink, meter_provider)
        span_metrics = compat.self_metrics(BatchSpanProcessor, meter_provider)
        log_metrics = compat.self_metrics(BatchLogRecordProcessor, meter_provider)
        span_processors = [BatchSpanProcessor(span_exporter, **span_metrics)] if span_exporter else []
        log_processors = [BatchLogRecordProcessor(log_exporter, **log_metrics)] if log_exporter else []
    on_shutdown: list[Callable[[], None]] = []
    remote = remote_sampler_of(sampler)
    if remote is not None:  # polls from this process (after fork), as this service; failed polls count on its meters
        remote.start(str(resource.attributes.get("service.name", default_service_name)), meter_provider)
        on_shutdown.append(remote.shutdown)
    # Built here and handed to both the provider and the fast tracer: the fast spans then reach every
    # processor added to the provider, under the same limits.
    processor, limits = SynchronousMultiSpanProcessor(), SpanLimits()  # type: ignore[no-untyped-call]  # unannotated in the SDK
    tracer_provider = TracerProvider(
        resource=resource, sampler=sampler, shutdown_on_exit=False, active_span_processor=processor, span_limits=limits
    )
    for span_processor in span_processors:
        tracer_provider.add_span_processor(span_processor)
    tracer: SpanTracer = (
        FastTracer(tracer_provider, processor, limits, INSTRUMENTATION_NAME)
        if compat.FAST_SPANS
        else SdkSpanTracer(tracer_provider, INSTRUMENTATION_NAME)
    )
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    for log_processor in log_processors:
        logger_provider.add_log_record_processor(log_processor)
    return Telemetry(
        enabled=True,
        resource=resource,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        logger_provider=logger_provider if log_processors else None,
        prometheus_registry=registry,
        fast_metrics=fast_metrics,
        tracer=tracer,
        exporters=_with_endpoints(exporters, env),
        sampler=sampler_text,
        push_readers=push_readers,
        on_shutdown=on_shutdown,
    )


def _resource(attributes: Mapping[str, Any], default_service_name: str) -> Resource:
    """Our attributes fill in whatever ``OTEL_RESOURCE_ATTRIBUTES``/``OTEL_SERVICE_NAME`` leave unset.

    ``service.instance.id`` is new per call, i.e. per worker process, so workers never merge.
    """
    detected = Resource.create({})
    merged: dict[str, Any] = {"service.instance.id": str(uuid.uuid4()), "deployment.environment.name": "local"}
    merged.update({k: v for k, v in attributes.items() if v is not None})
    merged.update(detected.attributes)
    if str(merged.get("service.name", "")).startswith("unknown_service"):
        merged["service.name"] = default_service_name
    return Resource(merged, detected.schema_url)

"""The one module of ``otel`` that uses other packages' private names, each checked at import.

Every fast path of ``otel`` that depends on an SDK internal has a flag here and a fallback to the SDK's
own component: when a check fails on the installed release, ``warn_fallbacks()`` (called by
``setup_telemetry``) logs one WARNING naming the piece, and the same spans, events and metrics still
arrive, through the SDK's slower path. Why the fast paths exist: BENCHMARKS.md, "Where the CPU goes: telemetry pieces in
isolation".

==========================  ===================================================  ===========================
flag                        relies on                                            fallback
==========================  ===================================================  ===========================
``FAST_SPANS``              ``ReadableSpan``'s field layout (``FastSpan`` fills  the SDK tracer
                            it in place), ``SpanProcessor._on_ending``
``SAMPLER_SHORTCUT``        ``ParentBased._root``, ``StaticSampler._decision``   the sampler asked per root
``FAST_METRICS``            ``MetricReader._receive_metrics``                    the SDK's metric instruments
``FAST_GRPC_SPANS``         the OTLP/gRPC exporter's ``_stub``, ``_client``,     the SDK's gRPC exporter
                            ``_channel``, ``_translate_data``
``FAST_HTTP_SPANS``         the OTLP/HTTP exporter's ``export`` internals        the SDK's HTTP exporter
==========================  ===================================================  ===========================

The SDK's logs API and the OTLP log exporters only exist under private module names
(``opentelemetry.sdk._logs``, ``..._log_exporter``, ``..._log_encoder``); they are imported here and nowhere else
(``bench/`` takes them from here too).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics.export import MetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, StaticSampler, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

__all__ = [
    "FAST_GRPC_SPANS",
    "FAST_HTTP_SPANS",
    "FAST_METRICS",
    "FAST_SPANS",
    "SAMPLER_SHORTCUT",
    "BatchLogRecordProcessor",
    "InMemoryLogRecordExporter",
    "LogRecordExportResult",
    "LogRecordExporter",
    "LogRecordProcessor",
    "LoggerProvider",
    "ReadableLogRecord",
    "SimpleLogRecordProcessor",
    "SpanRecord",
    "attach_reader",
    "encode_logs",
    "grpc_log_exporter",
    "grpc_span_exporter",
    "http_log_exporter",
    "http_span_exporter",
    "on_ending",
    "prometheus_reader",
    "root_sampling_bound",
    "self_metrics",
    "span_fields",
    "warn_fallbacks",
]

log = logging.getLogger("otel.compat")
_UNSET: Final = Status(StatusCode.UNSET)
_SPAN_FIELDS: Final = (
    "_name", "_context", "_kind", "_instrumentation_info", "_instrumentation_scope", "_parent",
    "_start_time", "_end_time", "_attributes", "_events", "_links", "_resource", "_status",
)  # fmt: skip


# --- spans: ReadableSpan filled in place, SpanProcessor._on_ending ---------------------------------


class SpanRecord(ReadableSpan):
    """A ``ReadableSpan`` whose fields are written in place (``ReadableSpan.__init__`` would build a Resource).

    ``otel.spans.FastSpan`` is one; it changes its name, status and end time only through the ``write_*``
    methods, and owns the ``attributes``, ``events`` and ``links`` containers it passes in.
    """

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        resource: Resource,
        scope: InstrumentationScope,
        attributes: dict[str, AttributeValue],
        events: list[Any],
        links: list[Any],
        start_time: int,
    ) -> None:
        self._name, self._context, self._parent, self._kind = name, context, parent, kind
        self._attributes = attributes  # a plain dict: the span enforces the limits itself
        self._events, self._links = events, links
        self._status = _UNSET
        self._resource, self._instrumentation_scope, self._instrumentation_info = resource, scope, None
        self._start_time, self._end_time = start_time, None

    def write_name(self, name: str) -> None:
        """Rename the span (``update_name``)."""
        self._name = name

    def write_status(self, status: Status) -> None:
        """Replace the span's status."""
        self._status = status

    def write_end_time(self, end_time: int) -> None:
        """Mark the span ended at ``end_time`` (ns since the epoch)."""
        self._end_time = end_time


def on_ending(processor: SpanProcessor, span: Any) -> None:
    """``processor._on_ending(span)``: the SDK calls it in ``Span.end`` after the end time, before ``on_end``."""
    processor._on_ending(span)


def span_fields(span: ReadableSpan) -> tuple[Any, ...]:
    """The fields a span encoder reads, in ``otel.span_encoder``'s order: context, parent, name, kind, start, end,
    attributes, dropped attributes, events, dropped events, links, dropped links, status.

    A ``SpanRecord``'s fields are read directly (its public properties copy events, links and attributes;
    BENCHMARKS.md, "Where the CPU goes: telemetry pieces in isolation"); any other span through its public properties."""
    if FAST_SPANS and isinstance(span, SpanRecord):
        return (
            span._context, span._parent, span._name, span._kind, span._start_time, span._end_time,
            span._attributes, span.dropped_attributes, span._events, 0, span._links, 0, span._status,
        )  # fmt: skip
    return (
        span.get_span_context(), span.parent, span.name, span.kind, span.start_time, span.end_time,
        span.attributes, span.dropped_attributes, span.events, span.dropped_events, span.links, span.dropped_links, span.status,
    )  # fmt: skip


def _check_spans() -> str | None:
    """None when ``SpanRecord`` matches the installed ``ReadableSpan`` and ``_on_ending`` exists, else what differs."""
    context = SpanContext(1, 2, False)
    scope = InstrumentationScope("check")
    resource = Resource.get_empty()
    attributes: dict[str, AttributeValue] = {"a": 1}
    public = ReadableSpan("n", context, None, resource, attributes, [], [], SpanKind.SERVER, None, _UNSET, 5, None, scope)
    if set(vars(public)) != set(_SPAN_FIELDS):
        return f"ReadableSpan fields {sorted(vars(public))}"
    record = SpanRecord("n", context, None, SpanKind.SERVER, resource, scope, attributes, [], [], 5)
    record.write_end_time(7)
    record.write_name("m")
    seen = (record.name, record.context, record.kind, record.start_time, record.end_time, dict(record.attributes or {}))
    if seen != ("m", context, SpanKind.SERVER, 5, 7, {"a": 1}) or record.resource is not resource:
        return "ReadableSpan properties read other fields"
    if not callable(getattr(SynchronousMultiSpanProcessor(), "_on_ending", None)):  # type: ignore[no-untyped-call]  # unannotated in the SDK
        return "SpanProcessor._on_ending"
    return None


# --- sampling: the root decision of the SDK's own samplers ----------------------------------------


def root_sampling_bound(sampler: Sampler) -> int | None:
    """Roots whose trace id's low 64 bits reach this bound are dropped by ``sampler``; None when it decides otherwise.

    Only for the SDK's own samplers whose root decision depends on the trace id alone: ratio, always-on/off,
    and those as the root of ``parentbased_*``. Any other sampler (or ``SAMPLER_SHORTCUT`` off) is always asked.
    """
    if not SAMPLER_SHORTCUT:
        return None
    parent_based = isinstance(sampler, ParentBased) and type(sampler).should_sample is ParentBased.should_sample
    root = sampler._root if parent_based else sampler  # type: ignore[attr-defined]  # ParentBased's root sampler
    if type(root) is TraceIdRatioBased:
        return root.bound
    if type(root) is StaticSampler:
        return 0 if root._decision is Decision.DROP else None
    return None


def _check_sampler() -> str | None:
    ratio = TraceIdRatioBased(0.5)
    if getattr(ParentBased(ratio), "_root", None) is not ratio:
        return "ParentBased._root"
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    if getattr(ALWAYS_OFF, "_decision", None) is not Decision.DROP:
        return "StaticSampler._decision"
    return None


# --- metrics: pre-aggregated points delivered with each collection -------------------------------


def attach_reader(reader: MetricReader, merge: Callable[[MetricsData | None], MetricsData]) -> bool:
    """Make ``reader`` (registered on a ``MeterProvider``) pass every collection through ``merge``.

    ``merge`` adds the pre-aggregated points; a collection with no SDK instrument still reaches it
    (the reader would skip an empty one). Returns False, changing nothing, when ``reader`` lacks the hooks.
    """
    collect, receive = getattr(reader, "_collect", None), getattr(reader, "_receive_metrics", None)
    if not callable(collect) or not callable(receive):
        _warn_once("MetricReader._collect/_receive_metrics", "request metrics are recorded with the SDK's instruments")
        return False

    def collect_never_empty(*args: Any, **kwargs: Any) -> MetricsData:
        return collect(*args, **kwargs) or MetricsData(resource_metrics=[])

    def receive_merged(metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        receive(merge(metrics_data), timeout_millis=timeout_millis, **kwargs)

    reader._collect = collect_never_empty  # type: ignore[assignment]  # a wrapper of what MeterProvider set at registration
    reader._receive_metrics = receive_merged  # type: ignore[method-assign]  # the reader's delivery hook
    return True


def _check_metrics() -> str | None:
    if not callable(getattr(MetricReader, "_receive_metrics", None)):
        return "MetricReader._receive_metrics"
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    if not callable(getattr(reader, "_collect", None)):
        return "MetricReader._collect"
    return None


# --- OTLP span exporters encoding with otel.span_encoder ------------------------------------------


def grpc_span_exporter(encode: Callable[[Sequence[ReadableSpan]], bytes], **kwargs: Any) -> SpanExporter:
    """The SDK's OTLP/gRPC span exporter, sending ``encode``'s bytes (the SDK's own encoder when ``FAST_GRPC_SPANS`` is off)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    kwargs = _fit(OTLPSpanExporter, kwargs)
    exporter = OTLPSpanExporter(**kwargs)
    if not FAST_GRPC_SPANS:
        return exporter
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    class RawTraceServiceStub:
        """``TraceService.Export`` taking already-serialized request bytes."""

        def __init__(self, channel: Any) -> None:
            self.Export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=None,
                response_deserializer=ExportTraceServiceResponse.FromString,
            )

    if not all(hasattr(exporter, name) for name in ("_stub", "_client", "_channel")):
        _warn_once("OTLP/gRPC span exporter without _stub/_client/_channel", "spans are encoded by the SDK's encoder")
        return exporter
    exporter._stub = RawTraceServiceStub  # also what a reconnect builds
    exporter._client = RawTraceServiceStub(exporter._channel)  # type: ignore[assignment]  # declared None until connected
    exporter._translate_data = encode  # type: ignore[assignment,method-assign]  # request bytes instead of a message
    return exporter


def http_span_exporter(encode: Callable[[Sequence[ReadableSpan]], bytes], **kwargs: Any) -> SpanExporter:
    """The SDK's OTLP/HTTP span exporter, sending ``encode``'s bytes (the SDK's own when ``FAST_HTTP_SPANS`` is off)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    kwargs = _fit(OTLPSpanExporter, kwargs)
    if not FAST_HTTP_SPANS:
        return OTLPSpanExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http._common import RequestPayloadTooLargeError, _is_request_too_large

    class EncodingHttpSpanExporter(OTLPSpanExporter):
        """The SDK exporter's ``export`` (release 1.45) with the encoder swapped."""

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            if self._shutdown:
                log.warning("Exporter already shutdown, ignoring batch")
                return SpanExportResult.FAILURE
            with self._metrics.export_operation(len(spans)) as result:
                try:
                    serialized = encode(spans)
                except Exception as error:
                    log.error("Failed to encode span batch: %s", error)
                    result.error = error
                    return SpanExportResult.FAILURE
                if _is_request_too_large(serialized, self._max_request_size):
                    log.warning(
                        "Dropping span batch: %d bytes exceeds max_request_size %d bytes", len(serialized), self._max_request_size
                    )
                    too_large = f"span batch of {len(serialized)} bytes over {self._max_request_size}"
                    result.error = RequestPayloadTooLargeError(too_large)
                    return SpanExportResult.FAILURE
                sent = self._client.export(serialized)
                if not sent.success:
                    result.error = sent.error
                    result.error_attrs = {"http.response.status_code": sent.status_code} if sent.status_code is not None else None
                    return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS

    exporter = EncodingHttpSpanExporter(**kwargs)
    if not all(hasattr(exporter, name) for name in ("_shutdown", "_metrics", "_client", "_max_request_size")):
        _warn_once("OTLP/HTTP span exporter internals", "spans are encoded by the SDK's encoder")
        return OTLPSpanExporter(**kwargs)
    return exporter


def _check_grpc() -> str | None:
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError as error:
        return f"opentelemetry-exporter-otlp-proto-grpc: {error}"
    if not callable(getattr(OTLPSpanExporter, "_translate_data", None)):
        return "OTLPSpanExporter._translate_data (gRPC)"
    return None


def _check_http() -> str | None:
    try:
        from opentelemetry.exporter.otlp.proto.http import _common
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as error:
        return f"opentelemetry-exporter-otlp-proto-http: {error}"
    missing = [name for name in ("RequestPayloadTooLargeError", "_is_request_too_large") if not hasattr(_common, name)]
    if missing or not callable(getattr(OTLPSpanExporter, "export", None)):
        return f"OTLP/HTTP exporter internals as of release 1.45 (missing {', '.join(missing) or 'export'})"
    return None


# --- OTLP log exporters (no public module path) ---------------------------------------------------


def grpc_log_exporter(**kwargs: Any) -> LogRecordExporter:
    """The SDK's OTLP/gRPC log exporter."""
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

    return OTLPLogExporter(**_fit(OTLPLogExporter, kwargs))


def http_log_exporter(**kwargs: Any) -> LogRecordExporter:
    """The SDK's OTLP/HTTP log exporter."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(**_fit(OTLPLogExporter, kwargs))


# --- the SDK's own pipeline metrics (otel.sdk.processor.*, otel.sdk.exporter.*), from release 1.41 ----


def self_metrics(component: Callable[..., Any], meter_provider: Any) -> dict[str, Any]:
    """``{"meter_provider": meter_provider}`` when ``component`` (an SDK processor or exporter class) takes one.

    Releases before 1.41 record no pipeline metrics and refuse the argument; their components get none.
    """
    try:
        takes = "meter_provider" in inspect.signature(component).parameters
    except (TypeError, ValueError):
        takes = False
    return {"meter_provider": meter_provider} if takes and meter_provider is not None else {}


def prometheus_reader(registry: Any) -> MetricReader:
    """A ``PrometheusMetricReader`` serving ``registry`` (a ``prometheus_client.CollectorRegistry``).

    Releases before 0.62b0 take no registry and register on the global one; their collector is moved over.
    """
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    if "registry" in inspect.signature(PrometheusMetricReader).parameters:
        return PrometheusMetricReader(registry=registry)
    from prometheus_client import REGISTRY

    reader = PrometheusMetricReader()
    collector = reader._collector  # the reader's prometheus_client collector
    REGISTRY.unregister(collector)
    # Registering describes the collector, i.e. collects before the reader has a provider: the SDK's
    # "Cannot call collect ... until it is registered" warning, meaningless here, is held back.
    sdk_log = logging.getLogger("opentelemetry.sdk.metrics._internal.export")
    level = sdk_log.level
    sdk_log.setLevel(logging.ERROR)
    try:
        registry.register(collector)
    finally:
        sdk_log.setLevel(level)
    return reader


def _fit(component: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` without ``meter_provider`` when ``component`` does not take one (releases before 1.41)."""
    rest = {key: value for key, value in kwargs.items() if key != "meter_provider"}
    return rest | self_metrics(component, kwargs.get("meter_provider"))


# --- the checks, run once at import ---------------------------------------------------------------


def _run(check: Callable[[], str | None]) -> str | None:
    try:
        return check()
    except Exception as error:
        return f"{check.__name__}: {error!r}"


_FAILED: dict[str, tuple[str, str]] = {}
for _flag, _check, _consequence in (
    ("FAST_SPANS", _check_spans, "server and stage spans come from the SDK tracer"),
    ("SAMPLER_SHORTCUT", _check_sampler, "the sampler is asked for every root span"),
    ("FAST_METRICS", _check_metrics, "request metrics are recorded with the SDK's instruments"),
    ("FAST_GRPC_SPANS", _check_grpc, "OTLP/gRPC spans are encoded by the SDK's encoder"),
    ("FAST_HTTP_SPANS", _check_http, "OTLP/HTTP spans are encoded by the SDK's encoder"),
):
    _problem = _run(_check)
    if _problem is not None:
        _FAILED[_flag] = (_problem, _consequence)

FAST_SPANS: bool = "FAST_SPANS" not in _FAILED
SAMPLER_SHORTCUT: bool = "SAMPLER_SHORTCUT" not in _FAILED
FAST_METRICS: bool = "FAST_METRICS" not in _FAILED
FAST_GRPC_SPANS: bool = "FAST_GRPC_SPANS" not in _FAILED
FAST_HTTP_SPANS: bool = "FAST_HTTP_SPANS" not in _FAILED
_warned: set[str] = set()


def _warn_once(what: str, consequence: str) -> None:
    if what not in _warned:
        _warned.add(what)
        log.warning("installed OpenTelemetry SDK differs (%s): %s", what, consequence)


def warn_fallbacks() -> list[str]:
    """Log one WARNING per fast path turned off (once per process); returns the flags that are off."""
    for problem, consequence in _FAILED.values():
        _warn_once(problem, consequence)
    return sorted(_FAILED)

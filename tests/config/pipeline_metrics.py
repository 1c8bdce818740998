"""Every Prometheus series name the telemetry pipeline produces, with its labels.

The one list that dashboards and rules are checked against (tests/config), and that the
real-stack end-to-end suite queries to prove each name really returns data. Names are those of
the collector's ``prometheus`` exporter (app metrics and span metrics, scraped on :8889) and of
the collector's own telemetry (:8888), for a 0.15x collector:

* counters get ``_total``; a unit is appended as a word (``s`` -> ``_seconds``, ``By`` -> ``_bytes``);
  ``{annotation}`` units add nothing; gauges with unit ``1`` get ``_ratio``.
* resource attributes: ``service.name`` -> ``job``, ``service.instance.id`` -> ``instance``, and
  the collector copies ``ml.model.version`` and ``deployment.environment.name`` onto every app and
  span-metrics series (``ml_model_version``, ``deployment_environment_name``; its
  transform/promote_resource processor).
* the SDK's own pipeline metrics (``otel.sdk.*``, opentelemetry-sdk 1.45, checked against a real
  run of the service): only the batch span/log processors and the OTLP span/log exporters have
  them (the metric exporter is created before the meter provider, so it has none).

``always`` is False for series that only exist once something went wrong (a refused span, an
ML error): an end-to-end test cannot expect them under healthy traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

APP_RESOURCE_LABELS = frozenset(
    {
        "job",
        "instance",
        "ml_model_version",
        "deployment_environment_name",
        "otel_scope_name",
        "otel_scope_version",
        "otel_scope_schema_url",
    }
)
COLLECTOR_LABELS = frozenset({"job", "instance", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"})
# The connector's own dimensions, plus the two the collector config adds (http.response.status_code,
# error.type) and the collector process's id.
SPAN_METRIC_LABELS = frozenset(
    {"service_name", "span_name", "span_kind", "status_code", "http_response_status_code", "error_type", "collector_instance_id"}
)
SDK_COMPONENT_LABELS = frozenset({"otel_component_name", "otel_component_type"})
SDK_EXPORTER_LABELS = SDK_COMPONENT_LABELS | {"server_address", "server_port"}
HTTP_LABELS = frozenset(
    {"http_request_method", "http_route", "http_response_status_code", "url_scheme", "network_protocol_version", "error_type"}
)


@dataclass(frozen=True)
class PromMetric:
    """One metric family as Prometheus stores it."""

    name: str
    kind: str  # counter | gauge | histogram | synthetic
    source: str  # app | spanmetrics | collector | prometheus
    labels: frozenset[str]
    always: bool = True

    @property
    def series(self) -> tuple[str, ...]:
        """Series names to query: a classic histogram is three series."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)

    def series_labels(self, series: str) -> frozenset[str]:
        return self.labels | {"le"} if series.endswith("_bucket") and self.kind == "histogram" else self.labels


def _app(name: str, kind: str, labels: set[str] | frozenset[str] = frozenset(), always: bool = True) -> PromMetric:
    return PromMetric(name, kind, "app", APP_RESOURCE_LABELS | frozenset(labels), always)


def _collector(name: str, kind: str, labels: set[str] | frozenset[str] = frozenset(), always: bool = True) -> PromMetric:
    return PromMetric(name, kind, "collector", COLLECTOR_LABELS | frozenset(labels), always)


def _per_signal(template: str, labels: set[str], always: bool) -> list[PromMetric]:
    return [
        _collector(template.format(item=item), "counter", labels, always) for item in ("spans", "metric_points", "log_records")
    ]


METRICS: tuple[PromMetric, ...] = (
    # --- The service (OTel SDK -> OTLP -> collector -> :8889) ---
    _app("http_server_request_duration_seconds", "histogram", HTTP_LABELS),
    _app("http_server_active_requests", "gauge", {"http_request_method", "url_scheme", "network_protocol_name"}),
    _app("ml_stage_duration_seconds", "histogram", {"ml_stage"}),
    _app("ml_predictions_total", "counter", {"ml_prediction_class"}),
    # Drift: scored rows per (feature, reference bucket); every bucket exported from the start.
    _app("ml_feature_bucket_total", "counter", {"ml_feature", "ml_bucket"}),
    _app("ml_prediction_score", "histogram"),
    _app("ml_errors_total", "counter", {"error_type", "ml_stage"}, always=False),
    _app("ml_batch_size", "histogram"),
    _app("ml_model_loaded", "gauge"),
    _app("process_cpu_time_seconds_total", "counter", {"cpu_mode"}),
    _app("process_cpu_utilization_ratio", "gauge"),
    _app("process_memory_usage_bytes", "gauge"),
    _app("ml_auth_failures_total", "counter", {"error_type"}, always=False),
    _app("asyncio_event_loop_lag_seconds", "histogram"),
    _app("otel_sampler_jaeger_remote_poll_failures_total", "counter", {"error_type"}, always=False),
    # --- the service's SDK pipeline (error_type only on dropped / failed items) ---
    _app("otel_sdk_processor_span_processed_total", "counter", SDK_COMPONENT_LABELS | {"error_type"}),
    _app("otel_sdk_processor_span_queue_size", "gauge", SDK_COMPONENT_LABELS),
    _app("otel_sdk_processor_span_queue_capacity", "gauge", SDK_COMPONENT_LABELS),
    _app("otel_sdk_processor_log_processed_total", "counter", SDK_COMPONENT_LABELS | {"error_type"}),
    _app("otel_sdk_processor_log_queue_size", "gauge", SDK_COMPONENT_LABELS),
    _app("otel_sdk_processor_log_queue_capacity", "gauge", SDK_COMPONENT_LABELS),
    _app("otel_sdk_exporter_span_exported_total", "counter", SDK_EXPORTER_LABELS | {"error_type"}),
    _app("otel_sdk_exporter_span_inflight", "gauge", SDK_EXPORTER_LABELS),
    _app("otel_sdk_exporter_log_exported_total", "counter", SDK_EXPORTER_LABELS | {"error_type"}),
    _app("otel_sdk_exporter_log_inflight", "gauge", SDK_EXPORTER_LABELS),
    _app(
        "otel_sdk_exporter_operation_duration_seconds",
        "histogram",
        SDK_EXPORTER_LABELS | {"error_type", "rpc_response_status_code", "http_response_status_code"},
    ),
    # --- spanmetrics connector (every span, before tail sampling) ---
    PromMetric("traces_span_metrics_calls_total", "counter", "spanmetrics", APP_RESOURCE_LABELS | SPAN_METRIC_LABELS),
    PromMetric("traces_span_metrics_duration_seconds", "histogram", "spanmetrics", APP_RESOURCE_LABELS | SPAN_METRIC_LABELS),
    # --- the collector's own telemetry (:8888) ---
    *_per_signal("otelcol_receiver_accepted_{item}_total", {"receiver", "transport"}, True),
    *_per_signal("otelcol_receiver_refused_{item}_total", {"receiver", "transport"}, True),
    *_per_signal("otelcol_exporter_sent_{item}_total", {"exporter"}, True),
    # Only incremented on failure, with the failure's error.type and error.permanent.
    *_per_signal("otelcol_exporter_send_failed_{item}_total", {"exporter", "error_type", "error_permanent"}, False),
    *_per_signal("otelcol_exporter_enqueue_failed_{item}_total", {"exporter"}, False),
    *_per_signal("otelcol_processor_memory_limiter_refused_{item}_total", {"processor"}, False),
    _collector("otelcol_exporter_queue_size", "gauge", {"exporter", "data_type"}),
    _collector("otelcol_exporter_queue_capacity", "gauge", {"exporter", "data_type"}),
    _collector("otelcol_processor_incoming_items_total", "counter", {"processor", "otel_signal"}),
    _collector("otelcol_processor_outgoing_items_total", "counter", {"processor", "otel_signal"}),
    _collector("otelcol_processor_tail_sampling_count_traces_sampled_total", "counter", {"policy", "sampled", "decision"}),
    _collector("otelcol_processor_tail_sampling_sampling_traces_on_memory", "gauge"),
    _collector("otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total", "counter", always=False),
    _collector("otelcol_process_uptime_seconds_total", "counter"),
    _collector("otelcol_process_cpu_seconds_total", "counter"),
    _collector("otelcol_process_memory_rss_bytes", "gauge"),
    _collector("otelcol_process_runtime_heap_alloc_bytes", "gauge"),
    # --- Prometheus itself ---
    PromMetric("up", "synthetic", "prometheus", frozenset({"job", "instance"})),
    # ALERTS carries each alert's own labels: any label name is allowed on it.
    PromMetric("ALERTS", "synthetic", "prometheus", frozenset({"alertname", "alertstate", "*"}), always=False),
)

SERIES: dict[str, PromMetric] = {series: metric for metric in METRICS for series in metric.series}

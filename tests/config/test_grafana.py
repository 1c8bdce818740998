"""Grafana provisioning: datasources that link metrics, traces and logs to each other, and
dashboards that show what the issue asks for. Query validity and metric names are checked for every
panel in test_promql.py; this file checks links, exemplars, Elasticsearch field names and content."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.config.exprs import DASHBOARD_FILES, all_panels, load_dashboard, load_datasources

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR_CONFIG = ROOT / "collector-config" / "otel-collector.yaml"

# Field names the collector's elasticsearch exporter writes, per mapping mode (its model.go / otel serializer).
ES_FIELDS = {
    "none": {"trace_id": "TraceId", "message": "Body", "level": "SeverityText", "service": "Resource.service.name"},
    "raw": {"trace_id": "TraceId", "message": "Body", "level": "SeverityText", "service": "Resource.service.name"},
    "otel": {
        "trace_id": "trace_id",
        "message": "body.text",
        "level": "severity_text",
        "service": "resource.attributes.service.name",
    },
}
BUILTIN_VARS = {"__from", "__to", "__value", "__data", "__field", "__series", "__url_time_range", "__span", "__tags", "__all"}


def _datasources() -> dict[str, dict[str, Any]]:
    return {ds["uid"]: ds for ds in load_datasources()}


def _by_type(kind: str) -> dict[str, Any]:
    found = [ds for ds in load_datasources() if ds["type"] == kind]
    assert len(found) == 1, f"expected one {kind} datasource"
    return found[0]


def _dashboard(uid: str) -> dict[str, Any]:
    return next(d for d in map(load_dashboard, DASHBOARD_FILES) if d["uid"] == uid)


def _exprs(dash: dict[str, Any]) -> list[str]:
    return [t.get("expr", "") for p in all_panels(dash) for t in p.get("targets", [])]


def _es_mapping_mode() -> str:
    """The mapping mode the collector sets for its Elasticsearch documents (default: otel)."""
    match = re.search(r'set\(scope\.attributes\["elastic\.mapping\.mode"\], "(\w+)"\)', COLLECTOR_CONFIG.read_text())
    return match[1] if match else "otel"


def test_datasource_uids_are_unique_and_every_panel_uses_one_of_them() -> None:
    uids = [ds["uid"] for ds in load_datasources()]
    assert len(uids) == len(set(uids))
    for path in DASHBOARD_FILES:
        for panel in all_panels(load_dashboard(path)):
            for ds in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]:
                if ds and ds.get("uid") not in (None, "-- Grafana --", "grafana"):
                    assert ds["uid"] in uids, f"{path.name}: panel {panel.get('title')!r} uses datasource {ds['uid']}"


def test_exemplars_open_their_trace_in_the_jaeger_datasource() -> None:
    prometheus, jaeger = _by_type("prometheus"), _by_type("jaeger")
    destinations = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    # The collector's prometheus exporter labels each exemplar with trace_id (and span_id).
    assert [(d["name"], d["datasourceUid"]) for d in destinations] == [("trace_id", jaeger["uid"])]
    assert "url" not in destinations[0], "an internal link (datasourceUid), not an external URL"


def test_traces_link_to_their_logs_and_metrics() -> None:
    jaeger, es, prometheus = _by_type("jaeger"), _by_type("elasticsearch"), _by_type("prometheus")
    assert jaeger["jsonData"]["tracesToLogsV2"]["datasourceUid"] == es["uid"]
    assert jaeger["jsonData"]["tracesToMetrics"]["datasourceUid"] == prometheus["uid"]
    links = es["jsonData"]["dataLinks"]
    assert [link["datasourceUid"] for link in links] == [jaeger["uid"]], "a log record's trace id opens the trace"


def test_elasticsearch_fields_are_the_ones_the_collector_writes() -> None:
    fields = ES_FIELDS[_es_mapping_mode()]
    es, jaeger = _by_type("elasticsearch"), _by_type("jaeger")
    assert es["jsonData"]["timeField"] == "@timestamp"
    assert es["jsonData"]["logMessageField"] == fields["message"]
    assert es["jsonData"]["logLevelField"] == fields["level"]
    assert es["jsonData"]["dataLinks"][0]["field"] == fields["trace_id"]
    assert jaeger["jsonData"]["tracesToLogsV2"]["query"].startswith(f'{fields["trace_id"]}:"')
    known = set(fields.values())
    for path in DASHBOARD_FILES:
        for panel in all_panels(load_dashboard(path)):
            for target in panel.get("targets", []):
                if (target.get("datasource") or {}).get("uid") != es["uid"]:
                    continue
                used = set(re.findall(r"([\w.@]+):", target["query"]))
                assert used <= known, f"{path.name}: {panel['title']!r} queries {sorted(used - known)}"


def test_log_index_is_the_collectors() -> None:
    es = _by_type("elasticsearch")
    assert es["jsonData"]["index"] == "$ES_LOGS_INDEX", "same variable as the collector's logs_index"
    assert "logs_index: ${env:ES_LOGS_INDEX" in COLLECTOR_CONFIG.read_text()


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_latency_graphs_show_exemplars(path: Path) -> None:
    """Every time series of a duration histogram lets you click through to a trace."""
    for panel in all_panels(load_dashboard(path)):
        targets = panel.get("targets", [])
        if panel.get("type") == "timeseries" and any("duration_seconds_bucket" in t.get("expr", "") for t in targets):
            if all("otel_sdk_" in t.get("expr", "") for t in targets if "duration_seconds_bucket" in t.get("expr", "")):
                continue  # the SDK's export timing has no trace behind it
            assert any(t.get("exemplar") for t in targets), f"{panel['title']!r} shows no exemplars"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_links_use_only_defined_variables(path: Path) -> None:
    dash = load_dashboard(path)
    defined = {v["name"] for v in dash.get("templating", {}).get("list", [])} | BUILTIN_VARS
    text = path.read_text()
    for link in re.findall(r'"url":\s*"([^"]*)"', text):
        for var in re.findall(r"\$\{(\w+)", link):
            assert var in defined, f"{path.name}: link {link} uses undefined ${{{var}}}"
    for var in dash.get("templating", {}).get("list", []):
        if var["name"] == "jaeger_ui":
            assert var["query"] == "http://localhost:16686", "the Jaeger UI port compose publishes"


def test_dashboard_uids_are_unique() -> None:
    uids = [load_dashboard(p)["uid"] for p in DASHBOARD_FILES]
    assert len(uids) == len(set(uids))


def test_service_overview_has_the_panels_the_issue_lists() -> None:
    exprs = "\n".join(_exprs(_dashboard("ml-service-overview")))
    required = {
        "request rate": r"rate\(http_server_request_duration_seconds_count",
        "errors": r'http_response_status_code=~"5\.\."',
        "p50": r"histogram_quantile\(0\.50?, [^\n]*http_server_request_duration_seconds_bucket",
        "p95": r"histogram_quantile\(0\.95, [^\n]*http_server_request_duration_seconds_bucket",
        "p99": r"histogram_quantile\(0\.99, [^\n]*http_server_request_duration_seconds_bucket",
        "per-stage latency": r"by \(ml_stage[^)]*\) \(rate\(ml_stage_duration_seconds_",
        "predictions by class": r"by \(ml_prediction_class\) \(rate\(ml_predictions_total",
        "score distribution": r"ml_prediction_score_bucket",
        "in-flight": r"http_server_active_requests",
        "CPU": r"process_cpu_time_seconds_total",
        "memory": r"process_memory_usage_bytes",
        "model loaded": r"ml_model_loaded",
        "event-loop lag": r"asyncio_event_loop_lag_seconds_bucket",
    }
    missing = [name for name, pattern in required.items() if not re.search(pattern, exprs)]
    assert not missing


def test_slow_requests_dashboard_leads_to_traces() -> None:
    dash = _dashboard("ml-slow-requests")
    exprs = "\n".join(_exprs(dash))
    assert "traces_span_metrics_duration_seconds_bucket" in exprs and "traces_span_metrics_calls_total" in exprs
    exemplar_series = {
        re.search(r"(\w+_duration_seconds)_bucket", t["expr"])[1]
        for p in all_panels(dash)
        for t in p.get("targets", [])
        if t.get("exemplar")
    }
    assert {
        "http_server_request_duration_seconds",
        "traces_span_metrics_duration_seconds",
        "ml_stage_duration_seconds",
    } <= exemplar_series
    text = yaml.safe_dump(dash)
    assert "minDuration=${slow_threshold}" in text, "a link searches Jaeger for the slow traces of an operation"


def test_collector_health_shows_every_way_telemetry_is_lost() -> None:
    exprs = "\n".join(_exprs(_dashboard("otel-collector-health")))
    for name in (
        "otelcol_receiver_refused_spans_total",
        "otelcol_exporter_send_failed_spans_total",
        "otelcol_exporter_enqueue_failed_spans_total",
        "otelcol_exporter_queue_size",
        "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total",
        "otelcol_processor_memory_limiter_refused_spans_total",
        "otel_sdk_processor_span_processed_total",
        "otel_sdk_exporter_span_exported_total",
        "otel_sdk_processor_span_queue_size",
    ):
        assert name in exprs, f"collector health dashboard does not show {name}"

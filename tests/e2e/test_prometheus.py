"""Prometheus answers PromQL for the service's histograms and the span metrics, with exemplars that name our traces."""

from __future__ import annotations

import time

import pytest

from tests.config.pipeline_metrics import SERIES, PromMetric
from tests.e2e.backends import Jaeger, Prometheus, Sample, poll
from tests.e2e.conftest import FAST_BURST, SLOW_FAULT_MS, E2ERun
from tests.e2e.test_jaeger import STAGES

pytestmark = pytest.mark.e2e

# The service exports every second, the collector's span metrics flush every 10 s, Prometheus scrapes every 10 s.
METRICS_TIMEOUT_S = 90


def wait_for(prometheus: Prometheus, expr: str, ok: object, what: str) -> list[Sample]:
    return poll(lambda: found if ok(found := prometheus.query(expr)) else None, timeout_s=METRICS_TIMEOUT_S, what=what)  # type: ignore[operator]


def test_stage_duration_histograms(run: E2ERun, prometheus: Prometheus) -> None:
    fast, slow = run.name("fast"), run.name("slow")
    counts = wait_for(
        prometheus,
        f'sum by (ml_stage) (ml_stage_duration_seconds_count{{job="{fast}"}})',
        lambda found: {s.labels["ml_stage"] for s in found if s.value >= FAST_BURST} == set(STAGES),
        f"every stage of {fast} counted at least {FAST_BURST} times",
    )
    buckets = prometheus.query(f'sum by (ml_stage) (ml_stage_duration_seconds_bucket{{job="{fast}", le="+Inf"}})')
    assert {s.labels["ml_stage"]: s.value for s in buckets} == {s.labels["ml_stage"]: s.value for s in counts}

    median = wait_for(
        prometheus,
        f'histogram_quantile(0.5, sum by (le) (ml_stage_duration_seconds_bucket{{job="{slow}", '
        'ml_stage="feature_engineering"}))',
        bool,
        f"feature_engineering buckets of {slow}",
    )
    assert median[0].value >= SLOW_FAULT_MS / 1000 * 0.9, "the injected slow feature engineering shows in the stage histogram"


def test_span_metrics_count_every_span_before_sampling(run: E2ERun, prometheus: Prometheus) -> None:
    fast, error = run.name("fast"), run.name("error")
    wait_for(
        prometheus,
        f'sum(traces_span_metrics_calls_total{{service_name="{fast}", span_name="POST /predict", span_kind="SPAN_KIND_SERVER"}})',
        lambda found: bool(found) and found[0].value >= FAST_BURST,
        f"span metrics counting all {FAST_BURST}+ server spans of {fast} (Jaeger keeps ~10%)",
    )
    wait_for(
        prometheus,
        f'sum by (span_name) (traces_span_metrics_calls_total{{service_name="{error}", status_code="STATUS_CODE_ERROR"}})',
        lambda found: {"POST /predict", "onnx_inference"} <= {s.labels["span_name"] for s in found},
        f"error span metrics of {error}",
    )
    durations = wait_for(
        prometheus,
        f'sum by (span_name) (traces_span_metrics_duration_seconds_bucket{{service_name="{fast}", le="+Inf"}})',
        lambda found: {"POST /predict", *STAGES} <= {s.labels["span_name"] for s in found},
        f"span duration histograms of {fast}",
    )
    p99 = prometheus.query(
        f'histogram_quantile(0.99, sum by (le) (traces_span_metrics_duration_seconds_bucket{{service_name="{fast}", '
        'span_name="validation"}))'
    )
    assert durations and p99 and 0 < p99[0].value < 1.0


@pytest.mark.parametrize(
    "series",
    [
        "ml_stage_duration_seconds_bucket",
        "http_server_request_duration_seconds_bucket",
        "traces_span_metrics_duration_seconds_bucket",
    ],
)
def test_exemplars_name_this_runs_traces(run: E2ERun, prometheus: Prometheus, jaeger: Jaeger, series: str) -> None:
    label = "service_name" if series.startswith("traces_span_metrics") else "job"
    expr = f'{series}{{{label}=~"{run.job_regex}"}}'
    exemplars = poll(
        lambda: prometheus.exemplars(expr, run.started_at - 60, time.time() + 60),
        timeout_s=METRICS_TIMEOUT_S,
        what=f"exemplars of {expr}",
    )
    ours = run.all_trace_ids()
    foreign = [e for e in exemplars if e.labels.get("trace_id") not in ours]
    assert not foreign, f"exemplars whose trace_id this run never received: {foreign[:3]}"
    # Grafana's exemplar link: a slow request's exemplar opens its trace in Jaeger (slow traces are always kept).
    slow = [e for e in exemplars if e.series.get(label) == run.name("slow")]
    assert slow, f"no exemplar from {run.name('slow')}"
    trace_id = slow[-1].labels["trace_id"]
    poll(lambda: jaeger.trace(trace_id), timeout_s=60, what=f"Jaeger to open exemplar trace {trace_id}")


def _selector(metric: PromMetric, series: str, run: E2ERun) -> str:
    if metric.source == "app":
        return f'{series}{{job=~"{run.job_regex}"}}'
    if metric.source == "spanmetrics":
        return f'{series}{{service_name=~"{run.job_regex}"}}'
    return series


ALWAYS = sorted(name for name, metric in SERIES.items() if metric.always and metric.name != "ALERTS")


@pytest.mark.parametrize("series", ALWAYS)
def test_every_series_of_the_pipeline_catalog_has_data(run: E2ERun, prometheus: Prometheus, series: str) -> None:
    """tests/config checks dashboards and rules against this catalog; here each name proves itself real."""
    expr = _selector(SERIES[series], series, run)
    wait_for(prometheus, f"count({expr})", lambda found: bool(found) and found[0].value > 0, f"data for {expr}")

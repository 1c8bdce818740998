"""Prometheus config and alert rules, checked by promtool itself and against the issue's alert list."""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.config.catalog import known_series_labels
from tests.config.drift_mutations import DRIFT_MUTATIONS  # run by test_drift_rules.py
from tests.config.exprs import DASHBOARD_FILES, PROMETHEUS_DIR, RULE_FILES, RULE_TEST_FILES, load_dashboard, rules
from tests.config.mutations import Mutation, apply_mutation, exercises
from tests.config.promql_labels import output_labels, parse

# The alerts issue 5 asks for, and the rules that answer each.
REQUIRED_ALERTS = {
    "p95 latency high": ["HighLatencyP95", "HighLatencyP95Critical"],
    "error rate > 5%": ["HighErrorRate"],
    "model not loaded": ["ModelNotLoaded"],
    "service down": ["ServiceDown"],
    "slow ONNX inference (stage p95)": ["SlowOnnxInference"],
    "memory high": ["MemoryHigh"],
    "memory growing (leak)": ["MemoryGrowing", "MemoryExhaustionPredicted"],
    "too many concurrent requests": ["TooManyConcurrentRequests"],
    "telemetry loss (collector refusing or failing to export)": [
        "TelemetryRefusedByCollector",
        "TelemetryExportFailing",
        "TelemetryDropped",
        "ExporterQueueNearlyFull",
        "OtelCollectorDown",
        "TailSamplingTracesDroppedEarly",
    ],
    "telemetry loss in the service's SDK (otel_sdk_*)": ["SdkTelemetryDropped", "SdkTelemetryExportFailed"],
    # The reference designs' other alerts: CPU high, ML failure rate, drift.
    "CPU saturated": ["WorkerCpuSaturated"],
    "event loop blocked (issue 18)": ["EventLoopBlocked"],
    "ML pipeline failures": ["PredictionPipelineErrors"],
    "prediction mix drift": ["PredictionMixShift"],
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=PROMETHEUS_DIR, check=False)


def _alerts() -> dict[str, dict]:
    return {rule["alert"]: rule for _, rule in rules() if "alert" in rule}


def test_prometheus_config_is_valid(promtool: str) -> None:
    result = _run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # The rule_files glob must reach every rule file (a typo would load none, silently).
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout + result.stderr


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_rule_file_is_valid(promtool: str, rule_file: Path) -> None:
    result = _run(promtool, "check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", RULE_TEST_FILES, ids=lambda p: p.name)
def test_rule_unit_tests_pass(promtool: str, test_file: Path) -> None:
    result = _run(promtool, "test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_hold_on_the_prometheus_version_compose_runs(promtool3: str) -> None:
    """Prometheus 3 made range selectors left-open: the same tests must pass there too."""
    compose_image = re.search(r"image: prom/prometheus:v(\S+)", (PROMETHEUS_DIR.parents[1] / "docker-compose.yml").read_text())
    version = _run(promtool3, "--version")
    assert compose_image and f"version {compose_image[1]} " in version.stdout + version.stderr, "promtool3 must match the image"
    commands = [["check", "config", "prometheus.yml"], ["check", "rules", *map(str, RULE_FILES)]]
    commands += [["test", "rules", str(f)] for f in RULE_TEST_FILES]
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        checks = list(pool.map(lambda args: _run(promtool3, *args), commands))
    for result in checks:
        assert result.returncode == 0, result.stdout + result.stderr


# Each mutation breaks one rule the way a careless edit would; the unit tests must notice.
# "fires": the broken rule no longer fires when provoked; "quiet": it fires when it should not.
MUTATIONS = [
    # --- service alerts ---
    Mutation("ServiceDown", "(process_cpu_time_seconds_total[3m])) == 0", "(process_cpu_time_seconds_total[3m])) < 0", "fires"),
    Mutation(
        "ServiceDown",
        "last_over_time(process_cpu_time_seconds_total[1h])",
        "last_over_time(process_cpu_time_seconds_total[1m])",
        "fires",
    ),
    Mutation("ServiceDown", 'up{job="ml-service"} == 0', 'up{job="ml-service"} == 2', "fires"),
    Mutation(
        "ServiceDown",
        'unless on () (up{job="otel-collector-exporter"} == 0)',
        'unless on () (up{job="otel-collector-exporter"} == 2)',
        "quiet",
    ),
    Mutation("ServiceDown", "(process_cpu_time_seconds_total[3m])) == 0", "(process_cpu_time_seconds_total[3m])) >= 0", "quiet"),
    Mutation("ModelNotLoaded", "ml_model_loaded == 0", "ml_model_loaded == 2", "fires"),
    Mutation("ModelNotLoaded", "for: 1m", "for: 0s", "quiet"),
    # Paging for an instance that stopped normally (its frozen, then stale, series) is the noise it must not make.
    Mutation(
        "ModelNotLoaded",
        "expr: ml_model_loaded == 0",
        "expr: ml_model_loaded == 0 or "
        "(ml_model_loaded unless on (job, instance) changes(process_cpu_time_seconds_total[3m]) > 0)",
        "quiet",
    ),
    Mutation("HighErrorRate", "ratio_rate5m > 0.05", "ratio_rate5m > 0.5", "fires"),
    Mutation("HighErrorRate", "ratio_rate5m > 0.05", "ratio_rate5m > 0.01", "quiet"),
    Mutation("HighErrorRate", "* 300 >= 10", "* 300 >= 0", "quiet"),
    Mutation("HighLatencyP95", "p95_5m > 0.25", "p95_5m > 0.5", "fires"),
    Mutation("HighLatencyP95", "p95_5m > 0.25", "p95_5m > 0.005", "quiet"),
    Mutation("HighLatencyP95", "for: 10m", "for: 1m", "quiet"),
    Mutation("HighLatencyP95Critical", "p95_5m > 1", "p95_5m > 5", "fires"),
    Mutation("HighLatencyP95Critical", "p95_5m > 1", "p95_5m > 0.25", "quiet"),
    Mutation("SlowOnnxInference", '{ml_stage="onnx_inference"} > 0.1', '{ml_stage="onnx_inference"} > 0.5', "fires"),
    Mutation("SlowOnnxInference", '{ml_stage="onnx_inference"} > 0.1', '{ml_stage="feature_engineering"} > 0.1', "quiet"),
    Mutation("PredictionPipelineErrors", "> 0.01", "> 0.1", "fires"),
    Mutation("PredictionPipelineErrors", 'ml_stage!="validation"', 'ml_stage!="none"', "quiet"),
    Mutation("TooManyConcurrentRequests", "(http_server_active_requests) > 10", "(http_server_active_requests) > 15", "fires"),
    Mutation(
        "TooManyConcurrentRequests",
        "sum by (job, instance) (http_server_active_requests)",
        "max by (job, instance) (http_server_active_requests)",
        "fires",
    ),
    Mutation("TooManyConcurrentRequests", "for: 2m", "for: 0s", "quiet"),
    Mutation("WorkerCpuSaturated", "[5m])) > 0.9", "[5m])) > 1.5", "fires"),
    Mutation("WorkerCpuSaturated", "[5m])) > 0.9", "[5m])) > 0.4", "quiet"),
    Mutation("EventLoopBlocked", ") > 0.05", ") > 0.5", "fires"),
    Mutation("EventLoopBlocked", ") > 0.05", ") > 0.001", "quiet"),
    Mutation("EventLoopBlocked", 'lag_seconds_bucket{le="0.1"}', 'lag_seconds_bucket{le="10"}', "fires"),
    Mutation("MemoryHigh", "> 1073741824", "> 2147483648", "fires"),
    Mutation("MemoryHigh", "> 1073741824", "> 268435456", "quiet"),
    Mutation("MemoryGrowing", "* 3600 > 52428800", "* 3600 > 209715200", "fires"),
    Mutation("MemoryGrowing", "for: 30m", "for: 5m", "quiet"),
    Mutation("MemoryExhaustionPredicted", "> 2147483648", "> 4294967296", "fires"),
    Mutation("MemoryExhaustionPredicted", "> 2147483648", "> 1073741824", "quiet"),
    Mutation("PredictionMixShift", ") > 0.15", ") > 0.5", "fires"),
    Mutation("PredictionMixShift", ") > 0.15", ") > -1", "quiet"),
    # --- telemetry alerts ---
    Mutation("OtelCollectorDown", "== 0", "== 2", "fires"),
    Mutation("OtelCollectorDown", 'job=~"otel-collector|otel-collector-exporter"', 'job=~".+"', "quiet"),
    Mutation("OtelCollectorDown", "for: 1m", "for: 0s", "quiet"),
    Mutation(
        "TelemetryRefusedByCollector",
        '(rate(otelcol_receiver_refused_spans_total[5m])), "signal", "traces", "", "") > 0',
        '(rate(otelcol_receiver_refused_spans_total[5m])), "signal", "traces", "", "") > 5',
        "fires",
    ),
    Mutation(
        "TelemetryRefusedByCollector",
        "rate(otelcol_receiver_refused_spans_total[5m])",
        "rate(otelcol_receiver_accepted_spans_total[5m])",
        "quiet",
    ),
    Mutation(
        "TelemetryExportFailing",
        "rate(otelcol_exporter_send_failed_spans_total[5m])",
        "rate(otelcol_exporter_send_failed_spans_total[5m] offset 1h)",
        "fires",
    ),
    Mutation("TelemetryExportFailing", "for: 5m", "for: 0s", "quiet"),
    Mutation(
        "TelemetryDropped",
        "otelcol_exporter_enqueue_failed_log_records_total[10m]",
        "otelcol_exporter_enqueue_failed_logs_total[10m]",
        "fires",
    ),
    Mutation(
        "TelemetryDropped",
        "otelcol_exporter_enqueue_failed_spans_total unless otelcol_exporter_enqueue_failed_spans_total offset 10m",
        "otelcol_exporter_enqueue_failed_spans_total unless otelcol_exporter_enqueue_failed_spans_total",
        "fires",
    ),
    Mutation(
        "TelemetryDropped",
        "(increase(otelcol_exporter_enqueue_failed_spans_total[10m])) > 0",
        "(increase(otelcol_exporter_enqueue_failed_spans_total[10m])) >= 0",
        "quiet",
    ),
    Mutation("ExporterQueueNearlyFull", "> 0.8", "> 0.95", "fires"),
    Mutation("ExporterQueueNearlyFull", "> 0.8", "> 0.05", "quiet"),
    Mutation("TailSamplingTracesDroppedEarly", "[5m])) > 0", "[5m])) > 1", "fires"),
    Mutation("TailSamplingTracesDroppedEarly", "[5m])) > 0", "[5m])) >= 0", "quiet"),
    Mutation(
        "SdkTelemetryDropped",
        'otel_sdk_processor_log_processed_total{error_type!="", error_type!="already_shutdown"} unless '
        "otel_sdk_processor_log_processed_total offset 10m",
        'otel_sdk_processor_log_processed_total{error_type!="", error_type!="already_shutdown"} unless '
        "otel_sdk_processor_log_processed_total",
        "fires",
    ),
    Mutation(
        "SdkTelemetryDropped",
        '(increase(otel_sdk_processor_span_processed_total{error_type!="", error_type!="already_shutdown"}[10m])) > 0',
        '(increase(otel_sdk_processor_span_processed_total{error_type!="", error_type!="already_shutdown"}[10m])) > 500',
        "fires",
    ),
    Mutation(
        "SdkTelemetryDropped",
        'span_processed_total{error_type!="", error_type!="already_shutdown"} unless',
        'span_processed_total{error_type!=""} unless',
        "quiet",
    ),
    Mutation(
        "SdkTelemetryDropped",
        'span_processed_total{error_type!="", error_type!="already_shutdown"}[10m]',
        "span_processed_total[10m]",
        "quiet",
    ),
    Mutation(
        "SdkTelemetryExportFailed",
        'otel_sdk_exporter_span_exported_total{error_type!=""}[10m]',
        'otel_sdk_exporter_span_exported_total{error_type="x"}[10m]',
        "fires",
    ),
    Mutation(
        "SdkTelemetryExportFailed",
        'otel_sdk_exporter_log_exported_total{error_type!=""} unless otel_sdk_exporter_log_exported_total offset 10m',
        'otel_sdk_exporter_log_exported_total{error_type!=""} unless otel_sdk_exporter_log_exported_total',
        "fires",
    ),
    Mutation(
        "SdkTelemetryExportFailed",
        'otel_sdk_exporter_span_exported_total{error_type!=""}[10m]',
        "otel_sdk_exporter_span_exported_total[10m]",
        "quiet",
    ),
    # --- recording rules (their promql_expr_test values) ---
    Mutation("job:http_server_requests:rate5m", 'http_route!~"/health/.+|/metrics"', 'http_route!~"/nothing"', "quiet"),
    Mutation(
        "job:http_server_errors:rate5m",
        'http_response_status_code=~"5.."',
        'http_response_status_code=~"[45].."',
        "quiet",
        via="job:http_server_errors:ratio_rate5m",
    ),
    Mutation(
        "job:http_server_errors:rate5m",
        "job:http_server_requests:rate5m * 0",
        "job:http_server_requests:rate5m * 0 unless job:http_server_requests:rate5m",
        "fires",
        via="job:http_server_errors:ratio_rate5m",
    ),
    Mutation("job:http_server_request_duration_seconds:p95_5m", "histogram_quantile(0.95,", "histogram_quantile(0.9,", "fires"),
    Mutation(
        "job_ml_stage_le:ml_stage_duration_seconds_bucket:rate5m",
        "sum by (job, ml_stage, le)",
        "sum by (job, le)",
        "fires",
        via="job_ml_stage:ml_stage_duration_seconds:p95_5m",
    ),
    Mutation(
        "job:ml_predictions_positive:ratio_rate1h",
        "or job:ml_predictions:rate1h * 0",
        "or job:ml_predictions:rate1h * 0 unless job:ml_predictions:rate1h",
        "fires",
    ),
]


@pytest.fixture(scope="session")
def mutation_results(
    promtool: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[Mutation, list[subprocess.CompletedProcess[str]]]:
    """promtool's verdict on every mutation, running only the test cases that exercise the rule.

    The unmutated cases pass (test_rule_unit_tests_pass runs them all, and cases are independent),
    so a failure here is the mutation's doing. All run in parallel: promtool mostly waits.
    """
    root = tmp_path_factory.mktemp("mutations")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    test_docs = {path.name: yaml.load(path.read_text(), Loader=loader) for path in RULE_TEST_FILES}
    copies = {mutation: _prepare(root / f"m{i:02d}", mutation, test_docs) for i, mutation in enumerate(MUTATIONS)}
    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = {mutation: pool.submit(_run_tests, promtool, copy) for mutation, copy in copies.items()}
        return {mutation: future.result() for mutation, future in futures.items()}


def _prepare(copy: Path, mutation: Mutation, test_docs: dict[str, dict]) -> Path:
    """A copy of the rules with the mutation applied, and of the test cases that exercise it."""
    shutil.copytree(PROMETHEUS_DIR / "rules", copy / "rules")
    apply_mutation(copy / "rules", mutation)
    (copy / "tests").mkdir()
    for name, doc in test_docs.items():
        cases = [case for case in doc["tests"] if exercises(case, mutation.tested_rule)]
        if cases:
            (copy / "tests" / name).write_text(yaml.safe_dump({**doc, "tests": cases}, sort_keys=False, width=10_000))
    return copy


def _run_tests(promtool: str, copy: Path) -> list[subprocess.CompletedProcess[str]]:
    files = sorted((copy / "tests").glob("*.test.yml"))
    return [
        subprocess.run([promtool, "test", "rules", str(f)], capture_output=True, text=True, cwd=copy, check=False) for f in files
    ]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[f"{m.rule}:{m.breaks}:{m.new[:40]}" for m in MUTATIONS])
def test_unit_tests_catch_a_broken_rule(mutation_results: dict, mutation: Mutation) -> None:
    results = mutation_results[mutation]
    assert results, f"no unit test exercises {mutation.tested_rule}"
    assert any(r.returncode != 0 for r in results), f"no unit test failed after changing {mutation.old!r} to {mutation.new!r}"


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_every_alert_is_mutated_both_ways(name: str) -> None:
    """Each alert has a mutation proving its tests notice silence and one proving they notice noise."""
    kinds = {m.breaks for m in [*MUTATIONS, *DRIFT_MUTATIONS] if m.rule == name}
    assert kinds == {"fires", "quiet"}, f"{name}: mutations only of kind {sorted(kinds)}"


def test_every_issue_alert_has_a_rule() -> None:
    alerts = _alerts()
    missing = {need: names for need, names in REQUIRED_ALERTS.items() if not all(n in alerts for n in names)}
    assert not missing


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for test_file in RULE_TEST_FILES:
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(_alerts())
    assert alerts - firing == set(), "alerts never shown to fire"
    assert alerts - quiet == set(), "alerts never shown to stay quiet"


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_alert_carries_severity_and_guidance(name: str) -> None:
    rule = _alerts()[name]
    assert rule["labels"]["severity"] in ("critical", "warning", "info")
    assert rule.get("for"), "an alert without `for` pages on a single bad evaluation"
    for key in ("summary", "description", "runbook", "dashboard"):
        assert rule["annotations"].get(key), f"missing annotation {key}"


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_alert_templates_use_labels_the_expression_keeps(name: str) -> None:
    rule = _alerts()[name]
    available = output_labels(parse(rule["expr"]), known_series_labels())
    used = {m for text in rule["annotations"].values() for m in re.findall(r"\$labels\.(\w+)", str(text))}
    if available is not None:
        assert used <= available | set(rule["labels"]), f"{name} prints labels its expression drops"


def test_alert_dashboard_links_point_to_provisioned_dashboards() -> None:
    uids = {load_dashboard(p)["uid"] for p in DASHBOARD_FILES}
    for name, rule in _alerts().items():
        link = rule["annotations"]["dashboard"]
        assert link.removeprefix("/d/") in uids, f"{name}: {link}"


def test_prometheus_scrapes_the_collector_keeping_resource_labels() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    exporter = jobs["otel-collector-exporter"]
    assert exporter["honor_labels"] is True
    assert exporter["static_configs"][0]["targets"] == ["otel-collector:8889"]
    assert jobs["otel-collector"]["static_configs"][0]["targets"] == ["otel-collector:8888"]
    assert "prometheus" in jobs

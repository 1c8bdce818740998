"""Prometheus config and alert rules, checked by promtool itself and against the issue's alert list."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.config.exprs import DASHBOARD_FILES, PROMETHEUS_DIR, RULE_FILES, RULE_TEST_FILES, load_dashboard, rules
from tests.config.promql_labels import output_labels, parse
from tests.config.catalog import known_series_labels

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
    "telemetry loss": ["TelemetryRefusedByCollector", "TelemetryExportFailing", "TelemetryDropped", "OtelCollectorDown"],
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=PROMETHEUS_DIR)


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


# Each mutation breaks one rule the way a careless edit would; the unit tests must notice.
MUTATIONS = [
    ("service-alerts.yml", "job:http_server_errors:ratio_rate5m > 0.05", "job:http_server_errors:ratio_rate5m > 0.5"),
    ("service-alerts.yml", "expr: ml_model_loaded == 0", "expr: ml_model_loaded == 2"),
    ("service-alerts.yml", "sum by (job) (changes(process_cpu_time_seconds_total[3m])) == 0", "sum by (job) (changes(process_cpu_time_seconds_total[3m])) < 0"),
    ("service-alerts.yml", '{ml_stage="onnx_inference"} > 0.1', '{ml_stage="feature_engineering"} > 0.1'),
    ("telemetry-alerts.yml", "otelcol_exporter_enqueue_failed_log_records_total", "otelcol_exporter_enqueue_failed_logs_total"),
    ("recording.yml", 'http_route!~"/health/.+|/metrics"', 'http_route!~"/nothing"'),
]


@pytest.mark.parametrize(("rule_file", "old", "new"), MUTATIONS, ids=[m[2][:40] for m in MUTATIONS])
def test_unit_tests_catch_a_broken_rule(promtool: str, tmp_path: Path, rule_file: str, old: str, new: str) -> None:
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)
    target = copy / "rules" / rule_file
    text = target.read_text()
    assert old in text, f"mutation anchor {old!r} not found in {rule_file}"
    target.write_text(text.replace(old, new))
    results = [subprocess.run([promtool, "test", "rules", str(t)], capture_output=True, text=True, cwd=copy)
               for t in sorted((copy / "tests").glob("*.test.yml"))]
    assert any(r.returncode != 0 for r in results), f"no unit test failed after changing {old!r} to {new!r}"


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

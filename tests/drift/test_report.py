"""The drift report from live telemetry: the real app in-process, driven by the load generator's
scenarios, read back from its /metrics. Drifted traffic is flagged on exactly the shifted
features; reference-like traffic on none."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config import Settings
from service.drift import cli as drift_cli
from service.drift.buckets import SCORE_FEATURE, DriftReference
from service.drift.report import build_report
from service.drift.sources import SourceError, from_exposition, parse_time, prometheus_query
from service.loadgen.bodies import DRIFTED_FIELDS
from service.loadgen.scenarios import SCENARIOS, build_pools
from service.pipeline.model import ModelCard
from tests.conftest import build_client

ROWS = 3000
SINGLES = 200  # the rest go through /predict/batch: both recording paths are exercised
REFERENCE = DriftReference.from_card(ModelCard.load(Settings.from_env({}).model_card_path).raw)


def _serve(scenario: str, seed: int) -> str:
    """Run ``scenario``'s request bodies through the real app; return its /metrics exposition."""
    ((_, jobs),) = build_pools(SCENARIOS[scenario], random.Random(seed), ROWS)
    bodies = [json.loads(job.body) for job in jobs]
    while len(bodies) < ROWS:  # the pool holds at most 2048 distinct bodies; draw more the same way
        ((_, more),) = build_pools(SCENARIOS[scenario], random.Random(seed + len(bodies)), ROWS - len(bodies))
        bodies += [json.loads(job.body) for job in more]
    client, _ = build_client()
    with client:
        for body in bodies[:SINGLES]:
            assert client.post("/predict", json=body).status_code == 200
        for start in range(SINGLES, ROWS, 400):
            assert client.post("/predict/batch", json={"instances": bodies[start : start + 400]}).status_code == 200
        assert client.post("/predict", json={**bodies[0], "age": 7}).status_code == 422  # rejected: not counted
        return client.get("/metrics").text


@pytest.fixture(scope="module")
def drifted_metrics() -> str:
    return _serve("drift", seed=11)


@pytest.fixture(scope="module")
def steady_metrics() -> str:
    return _serve("steady", seed=12)


def _report(text: str) -> dict[str, Any]:
    fetched = from_exposition([("app /metrics", text)])
    return build_report(REFERENCE, fetched.counts, fetched.source, model_versions=fetched.model_versions)


def test_every_scored_row_is_counted_once_per_feature(drifted_metrics: str) -> None:
    counts = from_exposition([("app", drifted_metrics)]).counts
    assert set(counts) == set(REFERENCE.names)
    assert {f: sum(b.values()) for f, b in counts.items()} == dict.fromkeys(REFERENCE.names, ROWS)


def test_drifted_traffic_flags_exactly_the_shifted_features_and_the_score(drifted_metrics: str) -> None:
    report = _report(drifted_metrics)
    verdicts = {f["feature"]: f["verdict"] for f in report["features"]}
    assert {f for f, v in verdicts.items() if v == "significant"} == {*DRIFTED_FIELDS, SCORE_FEATURE}
    assert {f for f, v in verdicts.items() if v == "moderate"} == set()
    assert report["summary"]["drifted_features"] == [f for f in REFERENCE.names if f in DRIFTED_FIELDS]
    assert report["summary"]["verdict"] == "significant" and report["summary"]["prediction_verdict"] == "significant"
    income = next(f for f in report["features"] if f["feature"] == "annual_income")
    lower = sum(b["current"] - b["reference"] for b in income["buckets"][:5])
    assert lower > 0.2  # the mass moved to the low-income deciles


def test_reference_like_traffic_is_quiet_on_every_feature(steady_metrics: str) -> None:
    report = _report(steady_metrics)
    assert {f["feature"]: f["verdict"] for f in report["features"]} == dict.fromkeys(REFERENCE.names, "none")
    assert max(f["psi"] for f in report["features"]) < 0.05


def test_report_numbers_are_consistent(drifted_metrics: str) -> None:
    report = _report(drifted_metrics)
    for feature in report["features"]:
        buckets = feature["buckets"]
        assert [b["bucket"] for b in buckets] == list(REFERENCE.feature(feature["feature"]).labels)
        assert sum(b["current"] for b in buckets) == pytest.approx(1.0, abs=1e-5)
        assert sum(b["psi_term"] for b in buckets) == pytest.approx(feature["psi"], abs=1e-5)
        assert sum(b["count"] for b in buckets) == feature["count"] == ROWS


def test_command_writes_self_contained_html_and_json(drifted_metrics: str, tmp_path: Path) -> None:
    exposition = tmp_path / "worker.prom"
    exposition.write_text(drifted_metrics)
    out = tmp_path / "report"
    status = drift_cli.main(["--metrics-file", str(exposition), "--out", str(out), "--fail-on", "significant"])
    assert status == 3  # significant drift reached: --fail-on says so
    report = json.loads((out / "drift_report.json").read_text())
    assert report["summary"]["drifted_features"] == ["annual_income", "purpose"]
    html = (out / "drift_report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"<script|<link|<img|@import|url\(|src=", html, re.IGNORECASE), "no external or scripted asset"
    assert not re.search(r"(?:href|src)=\"https?://", html)
    assert html.count("<svg") == len(REFERENCE.features)
    for feature in REFERENCE.names:
        assert f'id="f-{feature}"' in html
    assert "significant drift" in html and "annual_income" in html


def test_two_worker_expositions_are_summed(drifted_metrics: str, steady_metrics: str, tmp_path: Path) -> None:
    both = from_exposition([("w1", drifted_metrics), ("w2", steady_metrics)]).counts
    assert sum(both["age"].values()) == 2 * ROWS


def test_an_exposition_without_predictions_is_named_and_counts_are_whole(drifted_metrics: str) -> None:
    idle = re.sub(r"^(ml_feature_bucket_total\{.*\}) [0-9.e+]+$", r"\1 0.0", drifted_metrics, flags=re.MULTILINE)
    fetched = from_exposition([("w1", drifted_metrics), ("w2 idle", idle)])
    assert fetched.warnings == ["w2 idle contributed no predictions (no traffic since that process started)"]
    report = build_report(REFERENCE, fetched.counts, fetched.source, source_warnings=fetched.warnings)
    assert report["warnings"][0] == fetched.warnings[0]
    assert report["summary"]["rows"] == ROWS and isinstance(report["summary"]["rows"], int)
    assert json.dumps(report["summary"]["rows"]) == str(ROWS)


def test_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        drift_cli.main(["--help"])
    text = capsys.readouterr().out
    assert "``" not in text and "--job credit-risk-service --start" in text


def test_command_runs_as_a_module(drifted_metrics: str, tmp_path: Path) -> None:
    (tmp_path / "m.prom").write_text(drifted_metrics)
    done = subprocess.run(
        [sys.executable, "-m", "service.drift", "--metrics-file", str(tmp_path / "m.prom"), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "input drift: significant (2/11 significant: annual_income, purpose)" in done.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metrics-file", "/nonexistent/metrics.prom"], "/nonexistent/metrics.prom"),
        (["--prometheus", "http://127.0.0.1:9/"], "127.0.0.1:9"),  # discard port: nothing listens
    ],
)
def test_unreadable_sources_fail_in_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert drift_cli.main([*argv, "--out", str(tmp_path), "--timeout", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "drift_report.json").exists()


def test_relative_start_is_an_argument_not_an_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # argparse alone would read "-24h" as an unknown option and exit with a usage error.
    argv = ["--prometheus", "http://127.0.0.1:9/", "--start", "-24h", "--end", "now", "--out", str(tmp_path), "--timeout", "3"]
    assert drift_cli.main(argv) == 2
    assert "127.0.0.1:9" in capsys.readouterr().err


def test_a_metrics_page_without_drift_counters_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no ml_feature_bucket_total"):
        from_exposition([("other.prom", "# TYPE up gauge\nup 1\n")])


def test_prometheus_query_is_valid_promql_summing_over_instances(tmp_path: Path) -> None:
    query = prometheus_query(1000.0, 4600.0, job="credit-risk-service", model_version="1.0.0")
    assert query == (
        'sum by (ml_feature, ml_bucket) (increase(ml_feature_bucket_total{job="credit-risk-service", '
        'ml_model_version=~"1\\\\.0\\\\.0|"}[3600s]))'
    )
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found (Debian package `prometheus`): run `scripts/check_config.sh install`")
    rule_file = tmp_path / "q.yml"  # promtool parses a rule file's expressions with Prometheus's own parser
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": [{"record": "q", "expr": query}]}]}))
    result = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_time_arguments() -> None:
    now = 1_700_000_000.0
    assert parse_time("now", now) == now
    assert parse_time("-90m", now) == now - 5400
    assert parse_time("now-1d", now) == now - 86400
    assert parse_time("1699990000", now) == 1699990000.0
    assert parse_time("2023-11-14T22:13:20Z", now) == now
    with pytest.raises(SourceError, match="yesterday"):
        parse_time("yesterday", now)

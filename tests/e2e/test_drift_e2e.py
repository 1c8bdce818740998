"""Drift end to end: the load generator's ``drift`` scenario raises PSI above the threshold for the
shifted features (annual_income, purpose) and the score, and for nothing else; ``steady`` traffic
raises it nowhere. Real service processes -> OTLP -> Collector -> Prometheus -> the drift
recording rules and alerts as loaded (collector-config/prometheus/rules/drift.yml) -> the report
command reading Prometheus's HTTP API.

The alerts' ``for: 30m`` does not fit a test: the rules as loaded must go pending for exactly the
shifted features, and copies with the identical expressions and ``for: 10s`` (in the stack's extra
rules directory, as test_alerts does) must fire. The ``for`` itself is covered by the promtool
tests (tests/config/test_drift_rules.py). Each process has its own service name (Prometheus
``job``), so other traffic never mixes into its PSI.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from service.drift import cli as drift_cli
from service.loadgen.bodies import DRIFTED_FIELDS
from tests.e2e.backends import Prometheus, poll
from tests.e2e.conftest import Stack
from tests.e2e.services import OTLP_GRPC, PYTHON, ROOT, ServiceProcess, service_env
from tests.e2e.test_alerts import COPY_LABEL, rule, stack_rules_dir

pytestmark = pytest.mark.e2e

REQUESTS = 1500  # PSI sampling noise ~ (10 - 1) / 1500 = 0.006, far below 0.1; above the alerts' 500 minimum
FEATURES = 12  # 9 numeric inputs, 2 categorical, the score
SHIFTED = {*DRIFTED_FIELDS, "score"}
PSI_1H = "job_ml_feature:ml_feature_bucket:psi1h"
SHORT_FOR = "10s"


@dataclass(frozen=True)
class DriftRun:
    drifted: str  # job of the process that got the drift scenario
    steady: str  # job of the control process that got the steady scenario


def _load(service: ServiceProcess, scenario: str, seed: int) -> None:
    done = subprocess.run(
        [
            str(PYTHON),
            "-m",
            "service.loadgen",
            "--url",
            service.url,
            "--scenario",
            scenario,
            "--requests",
            str(REQUESTS),
            "--concurrency",
            "4",
            "--seed",
            str(seed),
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"loadgen {scenario}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def drift_run(stack: Stack, prometheus: Prometheus, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DriftRun]:
    run_id = f"e2e-drift-{uuid.uuid4().hex[:8]}"
    logs = tmp_path_factory.mktemp("drift-services")
    services = {
        role: ServiceProcess(
            role,
            f"{run_id}-{role}",
            service_env(
                f"{run_id}-{role}",
                run_id,
                OTLP_GRPC,
                "grpc",
                {"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "0", "REQUEST_LOG": "off"},
            ),
            logs / f"{role}.log",
        )
        for role in ("drifted", "steady")
    }
    try:
        for svc in services.values():
            svc.start()
        for svc in services.values():
            svc.wait_ready()
        # Every bucket is exported at 0 before the first request: wait for Prometheus to hold them,
        # so increase() counts the first requests too.
        for svc in services.values():
            poll(
                lambda job=svc.service_name: prometheus.query(f'count(ml_feature_bucket_total{{job="{job}"}}) == 100'),
                timeout_s=90,
                what=f"the 100 zero-valued bucket series of {svc.service_name}",
            )
        _load(services["drifted"], "drift", seed=1)
        _load(services["steady"], "steady", seed=2)
        for svc in services.values():
            poll(
                lambda job=svc.service_name: prometheus.query(
                    f'job_ml_feature:ml_feature_bucket:increase1h{{job="{job}", ml_feature="score"}} >= {0.95 * REQUESTS}'
                ),
                timeout_s=120,
                what=f"{svc.service_name}'s {REQUESTS} predictions in the 1h drift counts",
            )
            poll(
                lambda job=svc.service_name: len(prometheus.query(f'{PSI_1H}{{job="{job}"}}')) == FEATURES,
                timeout_s=60,
                what=f"PSI of all {FEATURES} features for {svc.service_name}",
            )
        yield DriftRun(services["drifted"].service_name, services["steady"].service_name)
    finally:
        for svc in services.values():
            svc.stop()


def _psi(prometheus: Prometheus, job: str) -> dict[str, float]:
    return {s.labels["ml_feature"]: s.value for s in prometheus.query(f'{PSI_1H}{{job="{job}"}}')}


def test_drift_scenario_raises_psi_for_exactly_the_shifted_features(drift_run: DriftRun, prometheus: Prometheus) -> None:
    psi = _psi(prometheus, drift_run.drifted)
    assert {f for f, v in psi.items() if v > 0.2} == SHIFTED, psi
    assert max(v for f, v in psi.items() if f not in SHIFTED) < 0.1, psi


def test_steady_traffic_raises_psi_nowhere(drift_run: DriftRun, prometheus: Prometheus) -> None:
    psi = _psi(prometheus, drift_run.steady)
    assert len(psi) == FEATURES and max(psi.values()) < 0.1, psi


def test_the_24h_psi_agrees(drift_run: DriftRun, prometheus: Prometheus) -> None:
    query = f'job_ml_feature:ml_feature_bucket:psi24h{{job="{drift_run.drifted}"}} > 0.2'
    flagged = poll(lambda: prometheus.query(query), timeout_s=180, what=query, interval_s=5)  # evaluated every 2 minutes
    assert {s.labels["ml_feature"] for s in flagged} == SHIFTED


def test_drift_alerts_as_loaded_go_pending_for_the_shifted_features(drift_run: DriftRun, prometheus: Prometheus) -> None:
    def pending(name: str, job: str) -> set[str]:
        return {
            a.labels["ml_feature"]
            for a in prometheus.alerts()
            if a.name == name and a.labels.get("job") == job and COPY_LABEL not in a.labels
        }

    want = {"FeatureDrift": set(DRIFTED_FIELDS), "PredictionDrift": {"score"}}
    for name, features in want.items():
        poll(
            lambda n=name, f=features: pending(n, drift_run.drifted) == f,
            timeout_s=90,
            what=f"{name} pending for {sorted(features)}",
            interval_s=3,
        )
        assert pending(name, drift_run.steady) == set()


@pytest.fixture
def short_for_drift_copies(prometheus: Prometheus) -> Iterator[None]:
    directory = stack_rules_dir()
    if not directory.is_dir():
        pytest.fail(f"{directory} does not exist: restart the stack (bash scripts/stack.sh down && bash scripts/stack.sh up)")
    copies = []
    for name in ("FeatureDrift", "PredictionDrift"):
        original = rule(name)
        copies.append({**original, "for": SHORT_FOR, "labels": {**original["labels"], COPY_LABEL: f"for {SHORT_FOR}"}})  # type: ignore[dict-item]
    path = directory / f"e2e-drift-{os.getpid()}.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "e2e-drift-short-for", "rules": copies}]}, sort_keys=False))
    try:
        prometheus.reload()
        poll(
            lambda: (
                len(
                    [
                        r
                        for r in prometheus.rules()
                        if r.get("name") in ("FeatureDrift", "PredictionDrift") and r["labels"].get(COPY_LABEL)
                    ]
                )
                == 2
            ),
            timeout_s=30,
            what="Prometheus to load the short-for copies of the drift alerts",
        )
        yield
    finally:
        path.unlink(missing_ok=True)
        prometheus.reload()


def test_drift_alerts_fire_for_the_shifted_features_only(
    drift_run: DriftRun, prometheus: Prometheus, short_for_drift_copies: None
) -> None:
    loaded = {
        r["name"]: r["query"]
        for r in prometheus.rules()
        if r.get("name") in ("FeatureDrift", "PredictionDrift") and not r["labels"].get(COPY_LABEL)
    }
    copies = {
        r["name"]: r["query"]
        for r in prometheus.rules()
        if r.get("name") in ("FeatureDrift", "PredictionDrift") and r["labels"].get(COPY_LABEL)
    }
    assert copies == loaded, "the copies must test the real expressions"

    def firing(name: str, job: str) -> set[str]:
        return {
            a.labels["ml_feature"]
            for a in prometheus.alerts()
            if a.name == name and a.labels.get("job") == job and a.state == "firing" and COPY_LABEL in a.labels
        }

    poll(
        lambda: firing("FeatureDrift", drift_run.drifted) == set(DRIFTED_FIELDS),
        timeout_s=120,
        what="FeatureDrift firing",
        interval_s=3,
    )
    poll(
        lambda: firing("PredictionDrift", drift_run.drifted) == {"score"},
        timeout_s=60,
        what="PredictionDrift firing",
        interval_s=3,
    )
    assert firing("FeatureDrift", drift_run.steady) == set() and firing("PredictionDrift", drift_run.steady) == set()


def test_report_from_prometheus_names_the_shifted_features(drift_run: DriftRun, prometheus: Prometheus, tmp_path: Path) -> None:
    for job, expected in ((drift_run.drifted, ["annual_income", "purpose"]), (drift_run.steady, [])):
        out = tmp_path / job
        status = drift_cli.main(["--prometheus", prometheus.base_url, "--start", "-30m", "--job", job, "--out", str(out)])
        assert status == 0
        report = json.loads((out / "drift_report.json").read_text())
        assert report["source"]["kind"] == "prometheus"
        assert report["summary"]["drifted_features"] == expected
        assert report["summary"]["prediction_verdict"] == ("significant" if expected else "none")
        assert report["summary"]["rows"] == REQUESTS  # whole counts: last value minus the value at --start
        assert report["warnings"] == []

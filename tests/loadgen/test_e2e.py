"""End to end: the real service in a subprocess, loaded by the real load generator.

Checks what a user relies on: valid traffic is all accepted, invalid traffic all refused with a
4xx, the counts add up, and the trace ids reported for the slowest requests are real traces the
service exported (so they can be opened in Jaeger).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.loadgen import LoadConfig, run_load
from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningService:
    url: str
    telemetry_dir: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def exported_traces(self) -> str:
        return "".join(p.read_text() for p in sorted(self.telemetry_dir.glob("traces*.jsonl*")))


def start_service(workdir: Path, **settings: str) -> RunningService:
    """``python -m service`` on a free loopback port, with its telemetry files under ``workdir`` and ``settings`` set."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FAULT_", "PROFILE_"))}
    env.update(TELEMETRY_DIR=str(workdir / "telemetry"), PYTHONPATH=str(REPO), **settings)
    log_path = workdir / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    running = RunningService(f"http://127.0.0.1:{port}", workdir / "telemetry", process)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{running.url}/health/ready", timeout=1) as response:
                if response.status == 200:
                    return running
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            running.stop()
            pytest.fail(f"service did not become ready:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    running = start_service(tmp_path_factory.mktemp("service"))
    yield running
    running.stop()


def test_mixed_load_is_all_accepted_and_adds_up(service: RunningService) -> None:
    report = run_load(LoadConfig(url=service.url, scenario="mixed", concurrency=4, duration_s=2.0))
    assert report.requests > 20
    assert report.status_counts == {"200": report.requests}
    assert report.requests == sum(k.requests for k in report.by_kind.values())
    assert set(report.by_kind) == {"/predict", "/predict_proba", "/predict/batch"}
    assert all(k.requests > 0 for k in report.by_kind.values())
    assert report.rows_per_s > report.throughput_rps  # batches scored 10-100 rows each
    assert report.latency_ms.p50 <= report.latency_ms.p99 <= report.latency_ms.max


def test_errors_scenario_gets_a_4xx_for_every_invalid_body(service: RunningService) -> None:
    report = run_load(LoadConfig(url=service.url, scenario="errors", rate=80.0, duration_s=2.0))
    invalid = report.by_kind["invalid"]
    assert invalid.requests > 10
    assert all(400 <= int(status) < 500 for status in invalid.status_counts)
    assert report.by_kind["/predict"].status_counts == {"200": report.by_kind["/predict"].requests}
    assert report.unexpected == 0
    assert "422" in report.error_samples and "detail" in report.error_samples["422"]


def test_drift_bodies_are_valid_too(service: RunningService) -> None:
    report = run_load(LoadConfig(url=service.url, scenario="drift", concurrency=2, requests=200))
    assert report.status_counts == {"200": 200}


def test_cli_writes_a_json_report_and_prints_the_summary(service: RunningService, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    command = [sys.executable, "-m", "service.loadgen", "--url", service.url, "--requests", "30", "--concurrency", "2"]
    result = subprocess.run(
        [*command, "--json-report", str(path)], cwd=REPO, check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "p50" in result.stdout and "slowest requests" in result.stdout
    data = json.loads(path.read_text())
    assert data["requests"] == 30 and data["status_counts"] == {"200": 30}
    quiet = subprocess.run([*command, "--quiet"], cwd=REPO, check=False, capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_cli_refuses_remote_targets_and_reports_a_missing_service() -> None:
    remote = subprocess.run(
        [sys.executable, "-m", "service.loadgen", "--url", "http://192.0.2.1:8000"],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert remote.returncode == 2 and "--allow-remote" in remote.stderr
    url = f"http://127.0.0.1:{free_port()}"
    missing = subprocess.run(
        [sys.executable, "-m", "service.loadgen", "--url", url, "--wait-ready", "0"],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 3 and "make run" in missing.stderr


def test_httpx_client_agrees_with_the_raw_client(service: RunningService) -> None:
    report = run_load(LoadConfig(url=service.url, scenario="mixed", concurrency=2, requests=40, backend="httpx"))
    assert report.status_counts == {"200": 40}
    assert all(s.trace_id for s in report.slowest)


def test_slowest_trace_ids_are_traces_the_service_exported(tmp_path: Path) -> None:
    service = start_service(tmp_path)  # its own instance: stopping it is what flushes the exporters
    try:
        report = run_load(LoadConfig(url=service.url, scenario="slow", concurrency=2, duration_s=2.0, slowest_n=5))
    finally:
        service.stop()
    assert len(report.slowest) == 5
    assert all(len(s.trace_id) == 32 and s.sampled for s in report.slowest)
    exported = service.exported_traces()
    assert all(s.trace_id in exported for s in report.slowest)

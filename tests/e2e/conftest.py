"""Real-stack fixtures: the local stack (scripts/stack.sh), the service processes, and one round of traffic.

Fixtures are package-scoped: the stack is started once (and stopped at the end only if this run
started it), the service processes of ROLES are started once, and one burst of traffic is sent once;
every test then asserts on what the backends made of it. A background load keeps running meanwhile,
because rate() panels and alert rules need counters that move across several scrapes.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.backends import Elasticsearch, Jaeger, Prometheus, poll
from tests.e2e.collector import CollectorSettings, collector_settings
from tests.e2e.services import OTLP_GRPC, OTLP_HTTP, Load, Reply, ServiceProcess, service_env

ROOT = Path(__file__).resolve().parents[2]
STACK_SCRIPT = ROOT / "scripts" / "stack.sh"
COMPONENTS = ("elasticsearch", "jaeger", "otel-collector", "prometheus")
# The first `up` on a machine provisions everything (Go builds, downloads): allow for it.
STACK_UP_TIMEOUT_S = float(os.environ.get("E2E_STACK_UP_TIMEOUT_S", "3600"))
# Whichever e2e test runs first pays for the stack start; every wait inside has its own deadline.
TEST_TIMEOUT_S = STACK_UP_TIMEOUT_S + 600

FAST_BURST = 300
SLOW_BURST = 10
ERROR_BURST = 20
SLOW_FAULT_MS = 300  # above the collector's default slow threshold (TAIL_SAMPLING_LATENCY_MS=250)

# The collector crash test runs last: it throws away what the collector holds at that moment.
_MODULE_ORDER = ("test_jaeger", "test_tail_sampling", "test_elasticsearch", "test_prometheus", "test_grafana", "test_alerts")
_LAST = "test_collector_restart"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    positions = [i for i, item in enumerate(items) if here in Path(str(item.path)).parents]
    ours = [items[i] for i in positions]

    def rank(item: pytest.Item) -> int:
        stem = Path(str(item.path)).stem
        if stem == _LAST:
            return len(_MODULE_ORDER) + 1
        return next((i for i, prefix in enumerate(_MODULE_ORDER) if stem.startswith(prefix)), len(_MODULE_ORDER))

    for position, item in zip(positions, sorted(ours, key=rank), strict=True):
        items[position] = item
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))


# --- the stack ---


def _stack(*args: str, timeout_s: float, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    out = log.open("a") if log is not None else subprocess.PIPE
    try:
        return subprocess.run(
            ["bash", str(STACK_SCRIPT), *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _component_running(status_line: str) -> bool:
    """A `stack.sh status` line: `<component> <pid or -> <state> <url>`."""
    fields = status_line.split()
    return len(fields) >= 3 and fields[0] in COMPONENTS and fields[1].isdigit()


@dataclass(frozen=True)
class Stack:
    started_here: bool
    log: Path

    def command(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        return _stack(*args, timeout_s=timeout_s)


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    if not STACK_SCRIPT.exists():
        pytest.fail(f"{STACK_SCRIPT.relative_to(ROOT)} is missing: the e2e suite needs the local stack")
    log = Path(tempfile.mkdtemp(prefix="otel-ml-e2e-stack-")) / "stack.log"
    status = _stack("status", timeout_s=60)
    already_up = status.returncode == 0
    # Stop at the end only a stack this run started from nothing: `down` stops every component, and a
    # partly running stack (one component crashed) belongs to whoever started the rest.
    start_from_nothing = not any(_component_running(line) for line in status.stdout.splitlines())
    if not already_up:
        try:
            result = _stack("up", timeout_s=STACK_UP_TIMEOUT_S, log=log)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`bash scripts/stack.sh up` did not finish in {STACK_UP_TIMEOUT_S:.0f}s:\n{_tail(log)}")
        if result.returncode != 0:
            pytest.fail(f"`bash scripts/stack.sh up` failed (exit {result.returncode}):\n{_tail(log)}")
    yield Stack(started_here=start_from_nothing, log=log)
    if start_from_nothing:
        _stack("down", timeout_s=300, log=log)
    shutil.rmtree(log.parent, ignore_errors=True)  # kept only when `up` failed, for the post-mortem


@pytest.fixture(scope="package")
def jaeger(stack: Stack) -> Jaeger:
    return Jaeger()


@pytest.fixture(scope="package")
def prometheus(stack: Stack) -> Prometheus:
    prometheus = Prometheus()
    prometheus.wait_until_rules_evaluated()  # a freshly started stack has no recorded series yet
    return prometheus


@pytest.fixture(scope="package")
def elasticsearch(stack: Stack) -> Elasticsearch:
    return Elasticsearch()


@pytest.fixture(scope="package")
def collector(stack: Stack) -> CollectorSettings:
    return collector_settings()


# --- the service processes and their traffic ---


@dataclass
class E2ERun:
    """What this test session sent, and to whom."""

    run_id: str
    services: dict[str, ServiceProcess]
    background: Load
    burst: dict[str, list[Reply]]
    started_at: float
    stopped: StoppedService

    def name(self, role: str) -> str:
        return self.services[role].service_name

    @property
    def job_regex(self) -> str:
        """Matches the service names (Prometheus ``job``) of this session's processes only."""
        return f"{self.run_id}-.+"

    def all_trace_ids(self) -> set[str]:
        replies = [r for rs in self.burst.values() for r in rs] + list(self.background.replies)
        return {r.trace_id for r in replies if r.trace_id}


@dataclass
class StoppedService:
    """A service that served, reported ml_model_loaded=1, then was stopped normally (SIGTERM).

    A normal stop must not page ModelNotLoaded (see test_alerts): its last report still says 1.
    """

    process: ServiceProcess
    done: threading.Event = field(default_factory=threading.Event)
    stopped_at: float | None = None
    exit_code: int | None = None
    error: str | None = None

    def stop_once_seen_loaded(self, prometheus: Prometheus) -> None:
        try:
            job = self.process.service_name
            poll(
                lambda: [s for s in prometheus.query(f'ml_model_loaded{{job="{job}"}}') if s.value == 1],
                timeout_s=90,
                what=f"Prometheus to see ml_model_loaded=1 for {job}",
            )
            self.exit_code = self.process.stop(signal.SIGTERM)
            self.stopped_at = time.time()
        except Exception as exc:  # noqa: BLE001 - a background thread: reported by the test that needs it
            self.error = repr(exc)
        finally:
            self.done.set()


ROLES: dict[str, tuple[str, dict[str, str]]] = {
    # No profiling at all: only the collector's baseline share (or the latency policy) can keep these.
    "fast": (OTLP_GRPC, {"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "0"}),
    # Every request spends SLOW_FAULT_MS in service.pipeline.faults.slow_feature_fault; OTLP over HTTP.
    "slow": (OTLP_HTTP, {"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "50", "FAULT_SLOW_FEATURE_MS": str(SLOW_FAULT_MS)}),
    # As slow as "slow", but with no profiler output (no profile.trigger, no hot functions) and no errors:
    # only the collector's latency policy can keep all of its traces (see test_tail_sampling).
    "slow_unprofiled": (
        OTLP_GRPC,
        {"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "0", "FAULT_SLOW_FEATURE_MS": str(SLOW_FAULT_MS)},
    ),
    # Every inference raises (HTTP 500, error.type injected_fault).
    "error": (OTLP_GRPC, {"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "50", "FAULT_ERROR_RATE": "1"}),
    # Serves normally, then is stopped normally: must NOT provoke ModelNotLoaded (see test_alerts).
    "stopped": (OTLP_GRPC, {"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "50"}),
}


@pytest.fixture(scope="package")
def run(stack: Stack, prometheus: Prometheus) -> Iterator[E2ERun]:
    run_id = f"e2e-{uuid.uuid4().hex[:8]}"
    # Not pytest's tmp_path: a concurrent pytest session prunes old basetemp dirs, logs included.
    logs = Path(tempfile.mkdtemp(prefix=f"otel-ml-{run_id}-"))
    services: dict[str, ServiceProcess] = {}
    for role, (endpoint, extra) in ROLES.items():
        name = f"{run_id}-{role}"
        env = service_env(name, run_id, endpoint, "grpc" if endpoint == OTLP_GRPC else "http/protobuf", extra)
        services[role] = ServiceProcess(role, name, env, logs / f"{role}.log")
    try:
        for svc in services.values():
            svc.start()
        for svc in services.values():
            svc.wait_ready()
        started_at = time.time()
        stopped = StoppedService(services["stopped"])
        stopped_reply = services["stopped"].predict()
        threading.Thread(target=stopped.stop_once_seen_loaded, args=(prometheus,), name="stopped", daemon=True).start()
        background = Load({services["fast"]: 4.0, services["slow"]: 0.5, services["error"]: 1.0})
        with background:
            burst = {**_send_burst(services), "stopped": [stopped_reply]}
            for role, replies in burst.items():
                bad = [r for r in replies if r.status != (500 if role == "error" else 200) or r.trace_id is None]
                assert not bad, f"{role} burst: unexpected replies {bad[:5]}\n{services[role].log_tail()}"
            yield E2ERun(run_id, services, background, burst, started_at, stopped)
    finally:
        for svc in services.values():
            svc.stop()
        shutil.rmtree(logs, ignore_errors=True)


def _send_burst(services: dict[str, ServiceProcess]) -> dict[str, list[Reply]]:
    """Each role's requests one after another, the roles side by side."""
    counts = {"fast": FAST_BURST, "slow": SLOW_BURST, "slow_unprofiled": SLOW_BURST, "error": ERROR_BURST}

    def send(role: str) -> list[Reply]:
        return [services[role].predict() for _ in range(counts[role])]

    with ThreadPoolExecutor(len(counts)) as pool:
        return dict(zip(counts, pool.map(send, counts), strict=True))

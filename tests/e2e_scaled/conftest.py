"""The two-tier stack (`scripts/stack.sh up-scaled`) and three replicas of one service exporting to its agent.

A package of its own, beside tests/e2e: the two stacks share the outward ports (OTLP 4317/4318, Jaeger,
Prometheus, Elasticsearch), and pytest finishes tests/e2e, whose package fixture stops the single stack it
started, before it starts this package. A single stack that was already running when this package starts
(someone's `make stack`) is stopped here and started again at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.services import OTLP_GRPC, OTLP_HTTP, Reply, ServiceProcess, service_env

ROOT = Path(__file__).resolve().parents[2]
STACK_SCRIPT = ROOT / "scripts" / "stack.sh"
STACK_UP_TIMEOUT_S = float(os.environ.get("E2E_STACK_UP_TIMEOUT_S", "3600"))
SLOW_FAULT_MS = 300  # above the gateways' slow threshold (TAIL_SAMPLING_LATENCY_MS=250): every such trace is kept
BURST = {"replica-1": 100, "replica-2": 100, "replica-3-slow": 15}
# Three replicas of one service (one service.name, three service.instance.id); the third is slow.
ACCEPTED_SPANS = "otelcol_receiver_accepted_spans_total"
AGENT_TELEMETRY = "127.0.0.1:8888"
GATEWAY_TELEMETRY = {"otel-gateway-1": "127.0.0.2:28888", "otel-gateway-2": "127.0.0.3:28888"}
REPLICAS: dict[str, tuple[str, dict[str, str]]] = {
    "replica-1": (OTLP_GRPC, {}),
    "replica-2": (OTLP_HTTP, {}),
    "replica-3-slow": (OTLP_GRPC, {"FAULT_SLOW_FEATURE_MS": str(SLOW_FAULT_MS), "PROFILE_SLOW_MS": "50"}),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(STACK_UP_TIMEOUT_S + 600))


def stack(*args: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """``bash scripts/stack.sh <args>``, output captured (stdout and stderr together)."""
    return subprocess.run(
        ["bash", str(STACK_SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def component_pid(name: str) -> int:
    """The pid of a running component of the two-tier stack, from `stack.sh status-scaled`."""
    status = stack("status-scaled", timeout_s=30).stdout
    for line in status.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == name and fields[1].isdigit():
            return int(fields[1])
    raise AssertionError(f"{name} is not running:\n{status}")


def own_metric(address: str, name: str, **labels: str) -> float | None:
    """A sample from a Collector's own metrics endpoint (read directly: no scrape delay), summed over the samples
    matching ``labels``; None when it has none (a counter appears only once something was counted)."""
    text = httpx.get(f"http://{address}/metrics", timeout=5).text
    found = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
    return sum(found) if found else None


@pytest.fixture(scope="package")
def scaled_stack() -> Iterator[None]:
    # The backends belong to both stacks; the single Collector only to the single stack.
    single = stack("status", timeout_s=60)
    single_was_running = any(
        len(f := line.split()) >= 2 and f[0] == "otel-collector" and f[1].isdigit() for line in single.stdout.splitlines()
    )
    if single_was_running:
        down = stack("down")
        assert down.returncode == 0, f"could not stop the single stack:\n{down.stdout}{down.stderr}"
    already_up = stack("status-scaled", timeout_s=60).returncode == 0
    if not already_up:
        up = stack("up-scaled", timeout_s=STACK_UP_TIMEOUT_S)
        if up.returncode != 0:
            pytest.fail(f"`bash scripts/stack.sh up-scaled` failed (exit {up.returncode}):\n{(up.stdout + up.stderr)[-4000:]}")
    yield
    if not already_up:
        stack("down")
    if single_was_running:
        stack("up", timeout_s=STACK_UP_TIMEOUT_S)


@dataclass
class ScaledRun:
    """Three replicas of one service, and the burst each of them answered."""

    run_id: str
    service_name: str
    replicas: dict[str, ServiceProcess]
    burst: dict[str, list[Reply]]
    burst_started_at: float
    gateway_spans_before: dict[str, float]  # each gateway's otelcol_receiver_accepted_spans_total before the burst

    @property
    def sent(self) -> int:
        return sum(len(replies) for replies in self.burst.values())


@pytest.fixture(scope="package")
def scaled_run(scaled_stack: None) -> Iterator[ScaledRun]:
    run_id = f"e2e-scaled-{uuid.uuid4().hex[:8]}"
    service_name = f"{run_id}-svc"
    logs = Path(tempfile.mkdtemp(prefix=f"otel-ml-{run_id}-"))
    replicas: dict[str, ServiceProcess] = {}
    for role, (endpoint, extra) in REPLICAS.items():
        attributes = f"deployment.environment.name=e2e-{run_id},service.instance.id={run_id}-{role}"
        env = service_env(
            service_name,
            run_id,
            endpoint,
            "grpc" if endpoint == OTLP_GRPC else "http/protobuf",
            {"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "0", **extra, "OTEL_RESOURCE_ATTRIBUTES": attributes},
        )
        replicas[role] = ServiceProcess(role, service_name, env, logs / f"{role}.log")
    try:
        for svc in replicas.values():
            svc.start()
        for svc in replicas.values():
            svc.wait_ready()
        spans_before = {gw: own_metric(address, ACCEPTED_SPANS) or 0.0 for gw, address in GATEWAY_TELEMETRY.items()}
        started_at = time.time()
        with ThreadPoolExecutor(len(BURST)) as pool:
            replies = pool.map(lambda role: [replicas[role].predict() for _ in range(BURST[role])], BURST)
            burst = dict(zip(BURST, replies, strict=True))
        for role, answered in burst.items():
            bad = [r for r in answered if r.status != 200 or r.trace_id is None]
            assert not bad, f"{role} burst: unexpected replies {bad[:5]}\n{replicas[role].log_tail()}"
        yield ScaledRun(run_id, service_name, replicas, burst, started_at, spans_before)
    finally:
        for svc in replicas.values():
            svc.stop()
        shutil.rmtree(logs, ignore_errors=True)

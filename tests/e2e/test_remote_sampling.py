"""Head sampling changed live, per endpoint: the stack's Jaeger serves a strategy file, the service follows an edit of it.

A service runs with ``parentbased_jaeger_remote`` against the stack's Jaeger (:5778). The test rewrites
the strategies file the stack's Jaeger reads (``$STACK_RUN_DIR/jaeger/sampling-strategies.json``, a
copy scripts/stack.sh makes at each start) with a strategy for this run's service name only, and puts
the file back afterwards, so other services and tests see the repo's strategies. Every sampled trace
is profiled (``PROFILE_SAMPLE_RATE=1``), so the collector's tail sampling keeps all of them ("profiled"
policy) and Jaeger holds exactly the head-sampled ones.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.api.schemas import EXAMPLE_APPLICATION
from tests.e2e.backends import Jaeger, poll
from tests.e2e.conftest import Stack
from tests.e2e.services import OTLP_GRPC, ServiceProcess, service_env
from tests.e2e.test_tail_sampling import binomial_interval, kept, wait_for_all

pytestmark = pytest.mark.e2e

SAMPLING_URL = "http://127.0.0.1:5778"
POLLING_MS = 500
RELOAD_S = 2.0  # scripts/stack.sh's JAEGER_SAMPLING_RELOAD_INTERVAL default
PREDICT, BATCH = "POST /predict", "POST /predict/batch"
REQUESTS = 60
FALSE_FAILURE = 1e-5


def _run_dir() -> Path:
    """scripts/stack.sh's run dir, resolved as the script resolves it."""
    if os.environ.get("STACK_RUN_DIR"):
        return Path(os.environ["STACK_RUN_DIR"])
    cache = os.environ.get("STACK_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "otel-ml-stack"
    )
    return Path(cache) / "run"


def _strategies(service: str, batch_rate: float) -> dict:
    """The repo's file plus this run's service: /predict at 0.5, /predict/batch at ``batch_rate``, anything else 0."""
    repo = json.loads((Path(__file__).resolve().parents[2] / "collector-config/jaeger/sampling-strategies.json").read_text())
    ops = [
        {"operation": PREDICT, "type": "probabilistic", "param": 0.5},
        {"operation": BATCH, "type": "probabilistic", "param": batch_rate},
    ]
    mine = {"service": service, "type": "probabilistic", "param": 0.0, "operation_strategies": ops}
    return {**repo, "service_strategies": [*repo.get("service_strategies", []), mine]}


def _write_atomically(path: Path, text: str) -> None:
    """Jaeger re-reads the file on a timer: it must never see it half written."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(text)
    tmp.replace(path)


@pytest.fixture(scope="module")
def strategies_file(stack: Stack) -> Iterator[Path]:
    path = _run_dir() / "jaeger" / "sampling-strategies.json"
    assert path.exists(), f"{path} missing: the running stack was started by a scripts/stack.sh without remote sampling"
    original = path.read_text()
    yield path
    _write_atomically(path, original)


@pytest.fixture(scope="module")
def remote_service(strategies_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    run_id = uuid.uuid4().hex[:8]
    name = f"e2e-{run_id}-remote"
    _write_atomically(strategies_file, json.dumps(_strategies(name, batch_rate=0.0)))
    # Jaeger serves this service's strategy once it has re-read the file
    poll(
        lambda: httpx.get(f"{SAMPLING_URL}/sampling", params={"service": name}, timeout=5).json().get("operationSampling"),
        timeout_s=RELOAD_S + 30,
        what=f"Jaeger's sampling endpoint to serve {name}'s per-operation strategy",
    )
    env = service_env(
        name,
        run_id,
        OTLP_GRPC,
        "grpc",
        {
            "OTEL_TRACES_SAMPLER": "parentbased_jaeger_remote",
            "OTEL_TRACES_SAMPLER_ARG": f"endpoint={SAMPLING_URL},pollingIntervalMs={POLLING_MS},initialSamplingRate=0",
            "PROFILE_SAMPLE_RATE": "1",  # every sampled trace carries profiler output: tail sampling keeps it
        },
    )
    service = ServiceProcess("remote", name, env, tmp_path_factory.mktemp("remote") / "service.log")
    service.start()
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


def _send(service: ServiceProcess, operation: str, count: int) -> list[tuple[str, bool]]:
    """``count`` requests to ``operation``; (trace id, sampled flag of its traceresponse) each."""
    path, body = (
        ("/predict", dict(EXAMPLE_APPLICATION))
        if operation == PREDICT
        else ("/predict/batch", {"instances": [dict(EXAMPLE_APPLICATION)]})
    )
    out = []
    for _ in range(count):
        response = service.http.post(f"{service.url}{path}", json=body)
        assert response.status_code == 200, response.text
        _, trace_id, _, flags = response.headers["traceresponse"].split("-")
        out.append((trace_id, bool(int(flags, 16) & 1)))
    return out


def _sampled_share_is_half(replies: list[tuple[str, bool]]) -> bool:
    lo, hi = binomial_interval(len(replies), 0.5, FALSE_FAILURE)
    return lo <= sum(sampled for _, sampled in replies) <= hi


def test_raising_one_endpoints_rate_in_the_strategies_file_reaches_the_service_without_a_restart(
    remote_service: ServiceProcess, strategies_file: Path, jaeger: Jaeger
) -> None:
    # The service's first good poll replaces initialSamplingRate=0: /predict at 0.5 shows it has the strategy.
    poll(
        lambda: any(sampled for _, sampled in _send(remote_service, PREDICT, 10)) or None,
        timeout_s=30,
        what="the service to apply the served strategy (some /predict sampled)",
    )
    before = {PREDICT: _send(remote_service, PREDICT, REQUESTS), BATCH: _send(remote_service, BATCH, REQUESTS)}
    assert not any(sampled for _, sampled in before[BATCH]), "/predict/batch is at 0 before the edit"
    assert _sampled_share_is_half(before[PREDICT])

    # During the incident: /predict/batch to 100 %, nothing else changed.
    edited_at = time.monotonic()
    _write_atomically(strategies_file, json.dumps(_strategies(remote_service.service_name, batch_rate=1.0)))
    poll(
        lambda: all(sampled for _, sampled in _send(remote_service, BATCH, 3)) or None,
        timeout_s=RELOAD_S + POLLING_MS / 1000 + 20,
        what="the service to sample every /predict/batch after the edit",
        interval_s=0.2,
    )
    took_s = time.monotonic() - edited_at
    after = {PREDICT: _send(remote_service, PREDICT, REQUESTS), BATCH: _send(remote_service, BATCH, REQUESTS)}
    assert all(sampled for _, sampled in after[BATCH])
    assert _sampled_share_is_half(after[PREDICT]), "the other endpoint's rate must not move"
    assert took_s < RELOAD_S + POLLING_MS / 1000 + 10, f"the edit took {took_s:.1f}s to reach the service"

    # Jaeger holds exactly the head-sampled traces: every batch trace after the edit, none before.
    wait_for_all(jaeger, [tid for tid, _ in after[BATCH]], f"all {REQUESTS} /predict/batch traces sampled after the edit")
    sampled_predict = [tid for tid, sampled in after[PREDICT] if sampled]
    wait_for_all(jaeger, sampled_predict, "the sampled /predict traces")
    assert not kept(jaeger, [tid for tid, _ in before[BATCH]]), "a head-dropped /predict/batch trace reached Jaeger"
    assert not kept(jaeger, [tid for tid, sampled in after[PREDICT] if not sampled]), (
        "a head-dropped /predict trace reached Jaeger"
    )

"""The overhead table: every configuration, round after round, against the same load.

Per round, configurations run one after another in an order rotated each round (so none always
follows the same neighbour or always goes first), each in a fresh server process:
start → ready → warm-up load (discarded) → CPU and request counters read → measured load →
CPU read again → peak RSS (VmHWM) → stop. Medians over rounds are what the report shows.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.configs import BenchConfig, otlp_env
from bench.processes import Receiver, Server, free_port
from bench.slow_sockets import SlowSockets
from bench.stats import Sample
from bench.strategies import StrategyServer
from bench.wrk import WrkResult, load_target, lua_script, run_wrk


@dataclass(frozen=True)
class LoadPlan:
    rounds: int = 3
    duration_s: float = 10.0
    warmup_s: float = 3.0
    connections: int = 8
    threads: int = 1


def rotated(configs: list[BenchConfig], round_index: int) -> list[BenchConfig]:
    shift = round_index % len(configs)
    return configs[shift:] + configs[:shift]


def run_overhead(configs: list[BenchConfig], plan: LoadPlan, log: Callable[[str], None] = print) -> list[Sample]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    scripts = {rows: _script(workdir, rows) for rows in sorted({c.batch_rows for c in configs})}
    receiver = Receiver()
    strategies = StrategyServer() if any(c.sampling_server for c in configs) else None
    closed_port = free_port()  # nothing listens here: the collector-down configuration points at it
    log(f"receiver on {receiver.endpoint}; work dir {workdir}")
    samples: list[Sample] = []
    try:
        for round_index in range(plan.rounds):
            for config in rotated(configs, round_index):
                sample = _measure(
                    config, round_index, plan, scripts[config.batch_rows], workdir, receiver, closed_port, strategies
                )
                samples.append(sample)
                log(
                    f"round {round_index + 1}/{plan.rounds} {config.name:<26} {sample.throughput:8.1f} req/s  "
                    + (f"{sample.rows_per_second:8.0f} rows/s  " if config.batch_rows else "")
                    + f"p50 {sample.p50_us / 1000:6.2f} ms  p99 {sample.p99_us / 1000:6.2f} ms  "
                    f"cpu {sample.cpu_us_per_request:7.1f} µs/req  rss {sample.peak_rss_bytes / 1_048_576:6.1f} MB  "
                    f"spans/req {sample.spans_per_request:4.2f}  errors {sample.errors}"
                )
    finally:
        receiver.stop()
        if strategies is not None:
            strategies.stop()
    shutil.rmtree(workdir, ignore_errors=True)  # kept for inspection only when a round failed
    return samples


def _script(workdir: Path, batch_rows: int) -> tuple[str, Path]:
    """The path and wrk script of the load a configuration gets (one per batch size)."""
    path, bodies = load_target(batch_rows)
    script = workdir / f"predict-{batch_rows}.lua"
    script.write_text(lua_script(bodies, path))
    return path, script


def _measure(
    config: BenchConfig,
    round_index: int,
    plan: LoadPlan,
    target: tuple[str, Path],
    workdir: Path,
    receiver: Receiver,
    closed_port: int,
    strategies: StrategyServer | None = None,
) -> Sample:
    env = dict(config.env)
    if config.sampling_server and strategies is not None:
        # initial rate 0: the spans per request show the served 10 % is what applies
        env["OTEL_TRACES_SAMPLER_ARG"] = f"endpoint={strategies.endpoint},pollingIntervalMs=60000,initialSamplingRate=0"
    env["TELEMETRY_DIR"] = str(workdir / "telemetry")
    if config.collector == "up":
        env.update(otlp_env(receiver.endpoint))
    elif config.collector == "down":
        env.update(otlp_env(f"http://127.0.0.1:{closed_port}"))
    spans_before = receiver.counts()["spans"]
    server = Server(config.factory, env, workdir / f"{config.name}-r{round_index}.log")
    attack: SlowSockets | None = None
    try:
        server.wait_ready()
        if config.slow_sockets:
            attack = SlowSockets(server.port, config.slow_sockets)
            attack.start()
        warm = _load(server, target, plan.warmup_s, plan)
        cpu_before, receiver_before = server.cpu_seconds(), receiver.cpu_seconds()
        measured = _load(server, target, plan.duration_s, plan)
        cpu_after, receiver_after = server.cpu_seconds(), receiver.cpu_seconds()
        peak_rss = server.peak_rss_bytes()
    except BaseException:
        print(server.log_tail(), file=sys.stderr)
        raise
    finally:
        if attack is not None:
            attack.stop()
        server.stop()
    time.sleep(0.2)
    spans = receiver.counts()["spans"] - spans_before
    # Spans per request over the server's life (warm-up included): exports lag the requests.
    total_requests = warm.requests + measured.requests
    return Sample(
        config=config.name,
        round=round_index,
        requests=measured.requests,
        duration_s=measured.duration_s,
        p50_us=measured.p50_us,
        p99_us=measured.p99_us,
        server_cpu_s=cpu_after - cpu_before,
        peak_rss_bytes=peak_rss,
        client_cpu_s=measured.client_cpu_s,
        errors=measured.errors,
        spans_received=round(spans * measured.requests / total_requests) if total_requests else 0,
        receiver_cpu_s=receiver_after - receiver_before,
        rows_per_request=max(1, config.batch_rows),
    )


def _load(server: Server, target: tuple[str, Path], duration_s: float, plan: LoadPlan) -> WrkResult:
    path, script = target
    return run_wrk(f"{server.url}{path}", script, duration_s=duration_s, connections=plan.connections, threads=plan.threads)

"""RSS over 100 000 requests at production settings: is memory flat?

One production server (OTLP/gRPC to the receiver) takes back-to-back wrk chunks; its RSS is read
after each chunk. Growth is measured from the reading after a warm-up chunk (model, session arenas,
first-use caches and the export queues are allocated by then) to the last one; the kernel's
high-water mark (VmHWM) is reported too.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.configs import all_configs, otlp_env
from bench.processes import Receiver, Server
from bench.wrk import lua_script, run_wrk, sample_bodies

MB = 1_048_576


@dataclass
class RssRun:
    requests: int
    errors: int
    seconds: float
    baseline_rss: int
    final_rss: int
    peak_rss: int
    ready_rss: int
    spans_received: int
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (elapsed s, requests so far, RSS bytes)
    min_rss: int = 0
    max_rss: int = 0

    @property
    def growth_mb(self) -> float:
        return (self.final_rss - self.baseline_rss) / MB

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["growth_mb"] = self.growth_mb
        return out


def run_rss(
    total_requests: int = 100_000,
    chunk_s: float = 5.0,
    warmup_s: float = 5.0,
    connections: int = 8,
    log: Callable[[str], None] = print,
) -> RssRun:
    production = next(c for c in all_configs() if c.name == "production")
    workdir = Path(tempfile.mkdtemp(prefix="bench-rss-"))
    script = workdir / "predict.lua"
    script.write_text(lua_script(sample_bodies()))
    receiver = Receiver()
    env = {**production.env, **otlp_env(receiver.endpoint), "TELEMETRY_DIR": str(workdir / "telemetry")}
    server = Server(production.factory, env, workdir / "server.log")
    done = 0
    samples: list[tuple[float, int, int]] = []
    try:
        server.wait_ready()
        ready_rss = server.rss_bytes()
        warm = run_wrk(f"{server.url}/predict", script, duration_s=warmup_s, connections=connections, threads=1)
        started = time.monotonic()
        baseline_rss = server.rss_bytes()
        samples.append((0.0, 0, baseline_rss))
        errors = warm.errors
        while done < total_requests:
            chunk = run_wrk(f"{server.url}/predict", script, duration_s=chunk_s, connections=connections, threads=1)
            done += chunk.requests
            errors += chunk.errors
            samples.append((time.monotonic() - started, done, server.rss_bytes()))
            log(f"{done:>8} requests  RSS {samples[-1][2] / MB:7.1f} MB  ({chunk.throughput:.0f} req/s, {chunk.errors} errors)")
        final_rss = samples[-1][2]
        peak_rss = server.peak_rss_bytes()
        seconds = time.monotonic() - started
    finally:
        server.stop()
        time.sleep(0.2)
        spans = receiver.counts()["spans"]
        receiver.stop()
    shutil.rmtree(workdir, ignore_errors=True)  # kept for inspection only when the run failed
    return RssRun(
        requests=done,
        errors=errors,
        seconds=seconds,
        baseline_rss=baseline_rss,
        final_rss=final_rss,
        peak_rss=peak_rss,
        ready_rss=ready_rss,
        spans_received=spans,
        samples=samples,
        min_rss=min(rss for _t, _n, rss in samples),
        max_rss=max(rss for _t, _n, rss in samples),
    )

"""The load engine: ``run_load(config) -> LoadReport`` (also ``await run_load_async(config)``).

Closed loop: N workers, each owning one keep-alive connection, send back to back. Open loop:
a scheduler starts requests at their planned times, each on an idle connection (most recently
used first, so few connections stay warm) or a new one up to ``max_connections``; when all are
busy the schedule falls behind and that wait counts in the latency. Requests planned but never
started before the end are reported as ``not_sent``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import signal
import time
from dataclasses import dataclass
from typing import Any

from service.loadgen.client import Backend, HttpxBackend, RawBackend, Target
from service.loadgen.config import LoadConfig
from service.loadgen.progress import ProgressLine, render_line
from service.loadgen.report import LatencySummary, LoadReport, Recorder
from service.loadgen.scenarios import SCENARIOS, Job, Picker, Scenario, build_pools
from service.loadgen.server_settings import read_faults

TIMER_SLACK_S = 0.001
LATE_GRACE_S = 0.25  # open loop: requests due before the end may still start this late


class TargetUnavailable(RuntimeError):
    """The service did not answer its readiness check in time."""


@dataclass
class _State:
    start: float
    measure_start: float
    deadline: float
    max_requests: int
    issued: int = 0  # measured requests started
    sent: int = 0  # all requests started, warm-up included (for the client's CPU per request)
    inflight: int = 0
    not_sent: int = 0
    stopped_by: str = ""

    def should_stop(self, now: float) -> bool:
        if self.stopped_by:
            return True
        if self.issued >= self.max_requests:
            self.stopped_by = "requests"
        elif now >= self.deadline:
            self.stopped_by = "duration"
        return bool(self.stopped_by)


def run_load(config: LoadConfig, *, handle_sigint: bool = False) -> LoadReport:
    """Run one bounded load test on a fresh event loop (uvloop when available)."""
    cfg = config.resolved()
    coro = run_load_async(cfg, handle_sigint=handle_sigint)
    if cfg.loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if cfg.loop == "uvloop":
                raise
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)


async def run_load_async(config: LoadConfig, *, handle_sigint: bool = False) -> LoadReport:
    cfg = config.resolved()
    scenario = SCENARIOS[cfg.scenario]
    target = Target.parse(cfg.url)
    connections = cfg.concurrency or cfg.max_connections
    backend: Backend = (
        RawBackend(target, cfg.timeout_s) if cfg.backend == "raw" else HttpxBackend(target, cfg.timeout_s, connections)
    )
    try:
        if cfg.ready_path is not None:
            await _wait_ready(backend, cfg.ready_path, cfg.wait_ready_s)
        pools = build_pools(scenario, random.Random(cfg.seed), cfg.max_requests)
        prepared = [(w, [(job, backend.prepare(job)) for job in jobs]) for w, jobs in pools]
        picker: Picker[tuple[Job, Any]] = Picker(prepared, random.Random(cfg.seed + 1))
        recorder = Recorder({jobs[0].kind: jobs[0].expect for _, jobs in pools}, cfg.slowest_n, cfg.failures_n)
        report = await _measure(cfg, scenario, backend, picker, recorder, handle_sigint)
        if scenario.fault is not None:  # what the service really injects, from its resource
            faults = await asyncio.to_thread(read_faults, cfg.url)
            report = dataclasses.replace(report, server_hint=scenario.fault.text(faults))
        return report
    finally:
        await backend.aclose()


async def _measure(
    cfg: LoadConfig,
    scenario: Scenario,
    backend: Backend,
    picker: Picker[tuple[Job, Any]],
    recorder: Recorder,
    handle_sigint: bool,
) -> LoadReport:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    measure_start = start + cfg.warmup_s
    state = _State(start, measure_start, measure_start + cfg.max_duration_s, cfg.max_requests)
    phase_s = min(cfg.burst_phase_s, cfg.duration_s / 4) if cfg.duration_s else cfg.burst_phase_s
    if handle_sigint:
        loop.add_signal_handler(signal.SIGINT, lambda: setattr(state, "stopped_by", "interrupted"))
    progress = asyncio.create_task(_progress(cfg, state, recorder)) if cfg.progress else None
    cpu0 = time.process_time()
    try:
        run = (
            _open_loop(cfg, scenario, phase_s, backend, picker, recorder, state)
            if cfg.open_loop
            else _closed_loop(cfg, scenario, phase_s, backend, picker, recorder, state)
        )
        # Every request has its own timeout; this outer bound only guards against a bug.
        await asyncio.wait_for(run, cfg.warmup_s + cfg.max_duration_s + cfg.timeout_s + 5.0)
    finally:
        if handle_sigint:
            loop.remove_signal_handler(signal.SIGINT)
        if progress is not None:
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress
    end = time.perf_counter()
    cpu = time.process_time() - cpu0
    return _report(cfg, scenario, backend, recorder, state, max(end - measure_start, 1e-9), cpu)


async def _closed_loop(
    cfg: LoadConfig,
    scenario: Scenario,
    phase_s: float,
    backend: Backend,
    picker: Picker[tuple[Job, Any]],
    recorder: Recorder,
    state: _State,
) -> None:
    workers = cfg.concurrency or 1
    clock = time.perf_counter

    async def worker(index: int) -> None:
        conn = backend.connection()
        try:
            while not state.should_stop(now := clock()):
                if scenario.bursty:  # low phase: only a share of the workers send
                    active = max(1, round(workers * scenario.load_factor(now - state.start, phase_s) / scenario.max_factor))
                    if index >= active:
                        await asyncio.sleep(min(0.05, phase_s / 10))
                        continue
                job, prepared = picker.pick()
                measured = now >= state.measure_start
                state.issued += measured
                state.sent += 1
                t0 = clock()
                status, trace, body = await conn.send(prepared)
                if measured:
                    done = clock()
                    recorder.record(job.kind, job.rows, status, done - t0, trace, body, done - state.measure_start)
        finally:
            conn.close()

    await asyncio.gather(*(worker(i) for i in range(workers)))


async def _open_loop(
    cfg: LoadConfig,
    scenario: Scenario,
    phase_s: float,
    backend: Backend,
    picker: Picker[tuple[Job, Any]],
    recorder: Recorder,
    state: _State,
) -> None:
    assert cfg.rate is not None
    clock = time.perf_counter
    idle: list[Any] = []
    slot_freed = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def fire(job: Job, prepared: Any, planned: float, fired_at: float, measured: bool) -> None:
        conn = idle.pop() if idle else backend.connection()
        try:
            status, trace, body = await conn.send(prepared)
            if measured:
                recorder.queue_delay_max = max(recorder.queue_delay_max, fired_at - planned)
                done = clock()
                recorder.record(
                    job.kind, job.rows, status, done - min(planned, fired_at), trace, body, done - state.measure_start
                )
        finally:
            idle.append(conn)
            state.inflight -= 1
            slot_freed.set()

    planned = state.start
    while True:
        now = clock()
        if state.stopped_by:
            break
        if state.issued >= state.max_requests:
            state.stopped_by = "requests"
            break
        if planned >= state.deadline or now >= state.deadline + LATE_GRACE_S:
            state.stopped_by = "duration"
            break
        if planned - now >= TIMER_SLACK_S:
            # Timers are ~1 ms coarse: a request due sooner goes out now (latency then counts
            # from the actual send); requests that fell behind go out back to back, each
            # measured from its planned start.
            await asyncio.sleep(planned - now - TIMER_SLACK_S / 2)
            continue
        if state.inflight >= cfg.max_connections:
            slot_freed.clear()
            await slot_freed.wait()
            continue
        job, prepared = picker.pick()
        measured = planned >= state.measure_start
        state.issued += measured
        state.sent += 1
        state.inflight += 1
        task = asyncio.ensure_future(fire(job, prepared, planned, now, measured))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        planned += 1.0 / (cfg.rate * scenario.load_factor(planned - state.start, phase_s))
    # Planned before the end but never started: the target (or this client) fell behind.
    while planned < state.deadline and state.stopped_by == "duration" and state.not_sent < state.max_requests:
        state.not_sent += 1
        planned += 1.0 / (cfg.rate * scenario.load_factor(planned - state.start, phase_s))
    if tasks:
        await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()


async def _wait_ready(backend: Backend, path: str, wait_s: float) -> None:
    """Poll the readiness endpoint until it answers 200, for at most ``wait_s`` seconds."""
    deadline = time.perf_counter() + wait_s
    probe = backend.prepare(Job("ready", path, b"", method="GET"))
    conn = backend.connection()
    try:
        while True:
            status, _, _ = await conn.send(probe)
            if status == 200:
                return
            if time.perf_counter() >= deadline:
                raise TargetUnavailable(f"GET {path} answered {status}; is the service running (make run)?")
            await asyncio.sleep(0.2)
    finally:
        conn.close()


async def _progress(cfg: LoadConfig, state: _State, recorder: Recorder) -> None:
    line = ProgressLine()
    total_s = cfg.warmup_s + (cfg.duration_s or 0.0)
    last_done, last_t = 0, time.perf_counter()
    rps = 0.0
    try:
        while True:
            await asyncio.sleep(0.25)
            now = time.perf_counter()
            done = recorder.completed
            rps = 0.7 * rps + 0.3 * (done - last_done) / (now - last_t)
            last_done, last_t = done, now
            line.draw(render_line(now - state.start, total_s, done, cfg.requests or 0, recorder.failures_total, rps))
    finally:
        line.clear()


def _report(
    cfg: LoadConfig, scenario: Scenario, backend: Backend, recorder: Recorder, state: _State, elapsed: float, cpu: float
) -> LoadReport:
    completed = recorder.completed
    kinds = {kind: recorder.kind_summary(kind) for kind in recorder.expectations}
    everything = [v for lat in recorder.latencies.values() for v in lat]
    notes = []
    if state.not_sent:
        notes.append(f"{state.not_sent} planned requests were never sent: the target could not keep up with --rate")
    if backend.name == "httpx":
        notes.append("httpx backend: CPU per request is much higher than the raw client (see service/loadgen/client.py)")
    return LoadReport(
        scenario=scenario.name,
        url=cfg.url,
        mode="open" if cfg.open_loop else "closed",
        concurrency=cfg.concurrency or cfg.max_connections,
        rate=cfg.rate,
        seed=cfg.seed,
        backend=backend.name,
        loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
        stopped_by=state.stopped_by,
        duration_s=round(elapsed, 4),
        requests=completed,
        not_sent=state.not_sent,
        errors=recorder.failures_total,
        unexpected=sum(k.unexpected for k in kinds.values()),
        throughput_rps=completed / elapsed,
        rows_per_s=recorder.rows_ok / elapsed,
        status_counts=recorder.status_counts(),
        latency_ms=LatencySummary.of(everything),
        by_kind=kinds,
        slowest=recorder.slowest(),
        failures=recorder.failures,
        failures_total=recorder.failures_total,
        error_samples=recorder.error_samples,
        client_cpu_s=round(cpu, 4),
        client_cpu_us_per_request=cpu / state.sent * 1e6 if state.sent else 0.0,
        queue_delay_ms_max=recorder.queue_delay_max * 1000.0,
        timeline=recorder.timeline,
        notes=notes,
    )

"""``python -m bench profile CONFIG``: where a configuration's server spends its CPU under load.

py-spy samples the server process (all threads, idle ones excluded) while wrk drives it, and the
collapsed stacks are folded into self and inclusive time per function, in µs per request, so two
configurations can be compared line by line (``bare`` against ``full``, say).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.configs import BenchConfig, otlp_env
from bench.processes import Receiver, Server, free_port
from bench.wrk import lua_script, run_wrk, sample_bodies

PY_SPY_HINT = ".venv/bin/pip install py-spy==0.4.3"
_LINE_NUMBER = re.compile(r":\d+\)$")
# Leaves where a thread is parked, not working (py-spy's idle detection misses Python-level waits).
IDLE_LEAVES = ("Condition.wait (threading.py)", "Event.wait (threading.py)", "_wait_for_tstate_lock (threading.py)")


# Which thread a stack ran on, from its frames (first match wins).
THREAD_ROLES = (
    ("span export thread (BatchSpanProcessor: encode + gRPC)", "OTLPSpanExporter"),
    ("log export thread (BatchLogRecordProcessor: encode + gRPC)", "OTLPLogExporter"),
    ("span file export thread (embedded default: OTLP/JSON encode + write)", "JsonLinesSpanExporter"),
    ("log file export thread (embedded default: OTLP/JSON encode + write)", "JsonLinesLogExporter"),
    ("metric export thread (collect + encode + gRPC)", "PeriodicExportingMetricReader"),
    ("batch processor threads, outside export", "BatchProcessor.worker"),
    ("slow-capture watchdog thread", "SlowCapture"),
    ("request worker threads (pipeline, off the event loop)", "WorkerThread.run"),
    ("request worker threads (pipeline, off the event loop)", "Pipeline.run"),
    ("request worker threads (pipeline, off the event loop)", "Session.run"),
)
# Anything else with Python frames runs on the event loop: coroutine steps resumed from uvloop's C
# loop have no Runner.run root in the sampled stack.
EVENT_LOOP = "event loop thread (HTTP, middleware, routing, telemetry middleware)"
# Frames whose inclusive time is worth a line of its own (substring match on the frame).
FOCUS = (
    "TelemetryMiddleware.__call__",
    "TelemetryMiddleware._log",
    "Stage.__enter__",
    "Stage.__exit__",
    "Tracer.start_span",
    "Span.end",
    "Span.set_attribute",
    "BatchProcessor.emit",
    "RequestProfiler",
    "SlowCapture",
    "Pipeline.run",
    "Session.run",
    "TypeAdapter.validate_json",
    "engineer_features",
    "serialize",
    "encode_spans",
    "encode_logs",
    "Resource.__hash__",
    "_UnaryUnaryMultiCallable",
    "StreamHandler.emit",
    "LoggingHandler.emit",
    "record_predictions",
    "HistogramPoint.record",
    "ProfiledPipeline",
    "PrometheusMiddleware",
    "OpenTelemetryMiddleware",
    "NativeTelemetry.__call__",
    "run_in_threadpool",
)


@dataclass(frozen=True)
class FoldedProfile:
    samples: int
    self_counts: Counter[str]
    inclusive_counts: Counter[str]
    roles: Counter[str]


def fold(lines: Iterable[str], strip_lines: bool = True) -> FoldedProfile:
    """Collapsed stacks (``a;b;c 12``) → self counts per leaf and inclusive counts per function."""
    total = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [_LINE_NUMBER.sub(")", f) if strip_lines else f for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames or frames[-1] in IDLE_LEAVES or not frames[-1].strip():
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
        joined = ";".join(frames)
        roles[next((role for role, marker in THREAD_ROLES if marker in joined), EVENT_LOOP)] += count
    return FoldedProfile(total, own, inclusive, roles)


def _py_spy() -> str:
    found = shutil.which("py-spy") or (str(Path(__file__).resolve().parents[1] / ".venv/bin/py-spy"))
    if not Path(found).exists():
        raise SystemExit(f"py-spy is not installed; install it with: {PY_SPY_HINT}")
    return found


def profile(
    config: BenchConfig, seconds: float = 15.0, connections: int = 8, rate: int = 500, top: int = 30, gil: bool = False
) -> str:
    """Profile ``config`` under load; ``gil`` samples only the thread holding the GIL (Python's serial bottleneck)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    script = workdir / "predict.lua"
    script.write_text(lua_script(sample_bodies()))
    receiver = Receiver()
    env = {**config.env, "TELEMETRY_DIR": str(workdir / "telemetry")}
    if config.collector == "up":
        env.update(otlp_env(receiver.endpoint))
    elif config.collector == "down":
        env.update(otlp_env(f"http://127.0.0.1:{free_port()}"))
    server = Server(config.factory, env, workdir / "server.log")
    raw = workdir / "stacks.txt"
    try:
        server.wait_ready()
        run_wrk(f"{server.url}/predict", script, duration_s=3, connections=connections, threads=1)
        spy = subprocess.Popen(
            [
                _py_spy(),
                "record",
                "--pid",
                str(server.process.pid),
                "--rate",
                str(rate),
                "--duration",
                str(round(seconds)),
                "--format",
                "raw",
                "--output",
                str(raw),
                "--nonblocking",
                *(["--gil"] if gil else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)
        load = run_wrk(f"{server.url}/predict", script, duration_s=seconds, connections=connections, threads=1)
        _, err = spy.communicate(timeout=seconds + 30)
        if spy.returncode != 0:
            raise RuntimeError(f"py-spy failed: {err[-2000:]}")
    finally:
        server.stop()
        receiver.stop()
    folded = fold(raw.read_text().splitlines())
    # py-spy samples each active thread `rate` times a second: count / rate = thread-seconds.
    per_request = 1e6 / rate / max(load.requests, 1)

    def line(name: str, n: int) -> str:
        return f"{n * per_request:8.1f}  {100 * n / folded.samples:5.1f}%  {name}"

    out = [
        (
            f"# {config.name}: {load.requests} requests in {load.duration_s:.1f}s ({load.throughput:.0f} req/s), "
            f"{folded.samples} samples at {rate} Hz{' (GIL holder only)' if gil else ''}, "
            f"{folded.samples * per_request:.0f} µs sampled per request"
        ),
        "",
        "## by thread (µs/request, % of samples)",
        *[line(name, n) for name, n in folded.roles.most_common()],
        "",
        "## focus frames, inclusive",
        *[line(name, n) for name, n in folded.inclusive_counts.most_common() if any(f in name for f in FOCUS)][:top],
        "",
        "## self time",
    ]
    out += [line(name, n) for name, n in folded.self_counts.most_common(top)]
    out += ["", f"stacks: {raw}"]
    return "\n".join(out)

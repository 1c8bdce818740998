"""The real service as a subprocess (``python -m service``) pointed at the local collector, and load against it.

Each process of a test session gets its own ``OTEL_SERVICE_NAME`` (``<run id>-<role>``), so what the
backends hold from earlier runs never satisfies an assertion about this one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx

from service.api.schemas import EXAMPLE_APPLICATION
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
OTLP_GRPC = "http://127.0.0.1:4317"
OTLP_HTTP = "http://127.0.0.1:4318"
_TRACERESPONSE = re.compile(r"^00-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})$")


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange as the client saw it."""

    role: str
    status: int
    trace_id: str | None
    span_id: str | None
    latency_s: float
    sent_at: float  # time.time()
    error: str | None = None  # transport failure: the request got no answer at all


def parse_traceresponse(value: str | None) -> tuple[str, str] | tuple[None, None]:
    m = _TRACERESPONSE.match(value or "")
    return (m["trace"], m["span"]) if m else (None, None)


@dataclass(eq=False)  # identity hash: processes key the load rates
class ServiceProcess:
    """``python -m service`` on a free loopback port, its output in ``log_path``."""

    role: str
    service_name: str
    env: Mapping[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(PYTHON), "-m", "service", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=dict(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"{self.role} service exited:\n{self.log_tail()}"
            try:
                if self.http.get(f"{self.url}/health/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.role} service not ready after {timeout_s}s:\n{self.log_tail()}")

    def predict(self, client: httpx.Client | None = None) -> Reply:
        """One ``POST /predict`` of the example applicant; a transport failure is a reply with status 0."""
        started, sent_at = time.perf_counter(), time.time()
        try:
            response = (client or self.http).post(f"{self.url}/predict", json=dict(EXAMPLE_APPLICATION))
        except httpx.HTTPError as exc:
            return Reply(self.role, 0, None, None, time.perf_counter() - started, sent_at, repr(exc))
        trace_id, span_id = parse_traceresponse(response.headers.get("traceresponse"))
        return Reply(self.role, response.status_code, trace_id, span_id, time.perf_counter() - started, sent_at)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int | None:
        """Signal the process and wait for it; SIGKILL if it does not exit in time. Returns its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def service_env(service_name: str, run_id: str, endpoint: str, protocol: str, extra: Mapping[str, str]) -> dict[str, str]:
    """A clean environment: none of the caller's OTEL_* or service settings leak in."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FAULT_", "PROFILE_", "REQUEST_LOG", "API_KEY"))}
    return {
        **base,
        "PYTHONUNBUFFERED": "1",
        "OTEL_SERVICE_NAME": service_name,
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name=e2e-{run_id}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",  # every trace reaches the collector: tail sampling decides
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "5000",
        "LOG_FORMAT": "json",
        **extra,
    }


class Load:
    """Open-loop background load: one thread per target at a fixed rate, every reply kept."""

    def __init__(self, targets: Mapping[ServiceProcess, float]) -> None:
        self.replies: list[Reply] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(svc, rate), name=f"load-{svc.role}", daemon=True)
            for svc, rate in targets.items()
        ]

    def __enter__(self) -> Self:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _run(self, svc: ServiceProcess, rate: float) -> None:
        period = 1.0 / rate
        next_at = time.monotonic()
        with httpx.Client(timeout=30.0) as client:  # httpx clients are not shared across threads
            while not self._stop.is_set():
                self.replies.append(svc.predict(client))
                next_at += period
                self._stop.wait(max(0.0, next_at - time.monotonic()))

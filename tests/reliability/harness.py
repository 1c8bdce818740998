"""A collector the reliability tests can break: a real OTLP receiver that goes down, hangs, slows and returns.

``FaultyCollector`` wraps ``tests.support.otlp_receiver`` (a real gRPC or HTTP/protobuf OTLP server
that decodes with opentelemetry-proto) and keeps one port and one ``Received`` store across restarts,
so "the collector came back" is literally the same address answering again. ``scrape`` reads a
Prometheus exposition (the service's own ``/metrics``) into samples the tests can query, and
``ServiceProcess`` runs the real ``python -m service`` for what only a process shows (SIGTERM, stdout).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.net import free_port
from tests.support.otlp_receiver import GrpcReceiver, HttpReceiver, Received

ROOT = Path(__file__).resolve().parents[2]


class Gate:
    """Stands in for the receiver's ``hang`` object: closed = accept and never answer; ``delay_s`` = answer late."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.event.set()
        self.delay_s = 0.0

    def wait(self) -> None:
        self.event.wait()
        if self.delay_s:
            time.sleep(self.delay_s)


class FaultyCollector:
    """One OTLP endpoint (``grpc`` or ``http/protobuf``) whose availability the test controls."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.received = Received()
        self.gate = Gate()
        self.port = 0
        self._server: GrpcReceiver | HttpReceiver | None = None

    def up(self) -> FaultyCollector:
        kind = GrpcReceiver if self.protocol == "grpc" else HttpReceiver
        server = kind(self.received, port=self.port, hang=self.gate)  # type: ignore[arg-type]
        self._server = server.start()
        self.port = server.port
        return self

    def down(self) -> None:
        """Stop listening: exports now get connection refused."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def hang(self) -> None:
        """Keep accepting, never answer (until ``heal``)."""
        self.gate.event.clear()

    def slow(self, delay_s: float) -> None:
        """Answer every export, ``delay_s`` late."""
        self.gate.delay_s = delay_s

    def heal(self) -> None:
        self.gate.delay_s = 0.0
        self.gate.event.set()
        if self._server is None:
            self.up()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, timeout_ms: int = 1000) -> dict[str, str]:
        """The standard variables that point a service at this collector, with small queues and quick batches."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": self.protocol,
            "OTEL_EXPORTER_OTLP_TIMEOUT": str(timeout_ms),
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BSP_MAX_QUEUE_SIZE": str(QUEUE_SIZE),
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": str(BATCH_SIZE),
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "OTEL_BLRP_MAX_QUEUE_SIZE": str(QUEUE_SIZE),
            "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": str(BATCH_SIZE),
            "OTEL_METRIC_EXPORT_INTERVAL": "300",
            "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED": "true",
        }

    def server_span_trace_ids(self) -> set[str]:
        return {span.trace_id.hex() for _, span in self.received.spans() if span.kind == span.SPAN_KIND_SERVER}

    def log_trace_ids(self) -> set[str]:
        return {record.trace_id.hex() for record in self.received.log_records()}


QUEUE_SIZE = 64
BATCH_SIZE = 16


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def scrape(exposition: str) -> list[Sample]:
    return [
        Sample(sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    ]


def total(samples: list[Sample], name: str, **labels: Any) -> float:
    """Sum of ``name`` over the samples whose labels include ``labels``."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def trace_id(response: Any) -> str:
    return str(response.headers["traceresponse"].split("-")[1])


class ServiceProcess:
    """``python -m service`` as production runs it (uvicorn, lifespan, SIGTERM), stdout kept in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes uvicorn's worker processes with it
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"service exited early:\n{self.output()}"
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"service never became ready:\n{self.output()}")

    def terminate(self, timeout: float = 60.0) -> float:
        """SIGTERM; returns the seconds until the process was gone."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        return time.monotonic() - started

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the server and every worker it forked (killing the supervisor alone orphans them)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self._log.close()

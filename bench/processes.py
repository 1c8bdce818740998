"""The processes a benchmark run starts: service servers (one per configuration and round) and the receiver.

Each server gets a clean environment: the harness's own ``OTEL_*``, ``PROFILE_*``, ``FAULT_*`` and
service variables are dropped so only the configuration's settings apply.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

import psutil

from service.config import ENV_VARS

REPO = Path(__file__).resolve().parents[1]
_SERVICE_VARS = {name for name, _default, _doc in ENV_VARS}
_DROPPED_PREFIXES = ("OTEL_", "PROFILE_", "FAULT_", "FASTAPI_OTEL")


def free_port() -> int:
    """A port nothing listens on right now (bound to 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES) and k not in _SERVICE_VARS}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


class Server:
    """One uvicorn worker serving ``factory``; CPU and memory read from /proc via psutil."""

    def __init__(self, factory: str, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", factory, "--port", str(self.port)],
            cwd=REPO,
            env=clean_env(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.ps = psutil.Process(self.process.pid)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; log:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout_s:.0f}s; log:\n{self.log_tail()}")

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:
            body: bytes = response.read()
            return body.decode()

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        return int(self.ps.memory_info().rss)

    def peak_rss_bytes(self) -> int:
        """The kernel's high-water mark of resident memory (VmHWM) over the process's life."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return self.rss_bytes()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Receiver:
    """``bench.receiver`` in its own process (so its CPU is not the server's), with its span counts."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver"],
            cwd=REPO,
            env=clean_env({}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        first = self.process.stdout.readline().split()
        if len(first) != 2 or first[0] != "PORT":
            raise RuntimeError(f"receiver did not start: {first}")
        self.port = int(first[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.ps = psutil.Process(self.process.pid)

    def counts(self) -> dict[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("counts\n")
        self.process.stdin.flush()
        counts: dict[str, int] = json.loads(self.process.stdout.readline())
        return counts

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

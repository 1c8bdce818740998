"""Loopback helpers for tests that start real servers: a free port, the service as a process, waiting for a URL to answer 200."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def serve(
    port: int, env: Mapping[str, str], stdout: int | IO[Any] = subprocess.PIPE, stderr: int | IO[Any] = subprocess.STDOUT
) -> subprocess.Popen[bytes]:
    """``python -m service --port <port>`` from the repository root with exactly ``env``; returns the running process.

    Output goes to ``stdout``/``stderr`` (by default one pipe, stderr folded into stdout).
    """
    return subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port)], cwd=ROOT, env=dict(env), stdout=stdout, stderr=stderr
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ok(url: str, timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    """Return once ``GET url`` answers 200; raise ``AssertionError`` naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(interval_s)
    raise AssertionError(f"{what} never became ready")


def wait_service_ready(port: int, timeout_s: float = 30.0) -> None:
    """Return once the service on ``port`` answers ``/health/ready`` with 200 (``AssertionError`` after ``timeout_s``)."""
    wait_ok(f"http://127.0.0.1:{port}/health/ready", timeout_s, "service")

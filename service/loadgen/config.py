"""``LoadConfig``: what to run, with the hard caps that keep every run bounded.

A run always ends: by ``duration_s`` or ``requests`` (whichever comes first), and never later
than ``MAX_DURATION_S`` nor after ``MAX_REQUESTS`` whatever was asked. Only loopback targets
are accepted unless ``allow_remote`` is set, so a typo cannot load-test someone else's server.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from service.loadgen.client import Target
from service.loadgen.scenarios import SCENARIOS

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_DURATION_S = 10.0
DEFAULT_CONCURRENCY = 8
MAX_DURATION_S = 3600.0
MAX_REQUESTS = 2_000_000
MAX_CONCURRENCY = 1024
MAX_RATE = 50_000.0
MAX_TIMEOUT_S = 120.0
MAX_WARMUP_S = 300.0


class ConfigError(ValueError):
    """A load-generator option is out of range; the message names the option."""


@dataclass(frozen=True)
class LoadConfig:
    """One run. Leave ``concurrency`` and ``rate`` unset for closed loop at 8 connections.

    ``concurrency``: closed loop, N connections each sending its next request as soon as the
    previous one is answered (measures capacity). ``rate``: open loop, requests started on a
    schedule whatever the answers (measures latency at a given load); latency then counts from
    the scheduled start, so client-side queueing is not hidden (no coordinated omission).
    """

    url: str = DEFAULT_URL
    scenario: str = "steady"
    concurrency: int | None = None
    rate: float | None = None
    duration_s: float | None = None
    requests: int | None = None
    seed: int = 42
    timeout_s: float = 10.0
    warmup_s: float = 0.0
    max_connections: int = 256
    burst_phase_s: float = 5.0
    backend: str = "raw"
    loop: str = "auto"
    allow_remote: bool = False
    ready_path: str | None = "/health/ready"
    wait_ready_s: float = 0.0
    slowest_n: int = 10
    failures_n: int = 50
    progress: bool = False

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    def resolved(self) -> LoadConfig:
        """Defaults filled in and every option checked against the hard caps."""
        cfg = self
        if cfg.concurrency is not None and cfg.rate is not None:
            raise ConfigError("give either --concurrency (closed loop) or --rate (open loop), not both")
        if cfg.concurrency is None and cfg.rate is None:
            cfg = replace(cfg, concurrency=DEFAULT_CONCURRENCY)
        if cfg.duration_s is None and cfg.requests is None:
            cfg = replace(cfg, duration_s=DEFAULT_DURATION_S)
        if cfg.scenario not in SCENARIOS:
            raise ConfigError(f"--scenario must be one of {', '.join(SCENARIOS)}, got {cfg.scenario!r}")
        _check("--concurrency", cfg.concurrency, 1, MAX_CONCURRENCY)
        _check("--rate", cfg.rate, 0.1, MAX_RATE)
        _check("--duration", cfg.duration_s, 0.1, MAX_DURATION_S)
        _check("--requests", cfg.requests, 1, MAX_REQUESTS)
        _check("--timeout", cfg.timeout_s, 0.01, MAX_TIMEOUT_S)
        _check("--warmup", cfg.warmup_s, 0.0, MAX_WARMUP_S)
        _check("--max-connections", cfg.max_connections, 1, MAX_CONCURRENCY)
        _check("--burst-phase", cfg.burst_phase_s, 0.05, MAX_DURATION_S)
        _check("--wait-ready", cfg.wait_ready_s, 0.0, MAX_TIMEOUT_S)
        if cfg.backend not in ("raw", "httpx"):
            raise ConfigError(f"--client must be raw or httpx, got {cfg.backend!r}")
        if cfg.loop not in ("auto", "asyncio", "uvloop"):
            raise ConfigError(f"--loop must be auto, asyncio or uvloop, got {cfg.loop!r}")
        try:
            target = Target.parse(cfg.url)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if not cfg.allow_remote and not is_loopback(target.host):
            raise ConfigError(f"--url host {target.host!r} is not loopback; pass --allow-remote to load-test it")
        return cfg

    @property
    def max_requests(self) -> int:
        return min(self.requests or MAX_REQUESTS, MAX_REQUESTS)

    @property
    def max_duration_s(self) -> float:
        return min(self.duration_s or MAX_DURATION_S, MAX_DURATION_S)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(option: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{option} must be within {low:g}..{high:g}, got {value:g}")

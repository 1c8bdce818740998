"""Load generator for the prediction service: ``python -m service.loadgen`` or ``run_load(config)``.

Bounded (duration and request caps, hard limits in ``config``), loopback-only by default, and
lean enough to share a 2-core machine with the service (a hand-written HTTP/1.1 keep-alive
client on uvloop, see ``client``). Scenarios are listed in ``scenarios``.

Programmatic use (the benchmark harness)::

    from service.loadgen import LoadConfig, run_load
    report = run_load(LoadConfig(url="http://127.0.0.1:8000", scenario="steady", concurrency=16, duration_s=20))
    report.throughput_rps, report.latency_ms.p99, report.to_dict()
"""

from __future__ import annotations

from service.loadgen.config import ConfigError, LoadConfig
from service.loadgen.report import LoadReport
from service.loadgen.runner import TargetUnavailable, run_load, run_load_async

__all__ = ["ConfigError", "LoadConfig", "LoadReport", "TargetUnavailable", "run_load", "run_load_async"]

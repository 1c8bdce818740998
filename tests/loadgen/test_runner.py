"""The engine against a real local HTTP server: caps hold exactly, counts add up, bursts burst."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from service.loadgen import LoadConfig, LoadReport, TargetUnavailable, run_load_async
from tests.loadgen.tiny_server import TinyServer


def _load(server_options: dict[str, Any], **config: Any) -> tuple[LoadReport, TinyServer]:
    async def scenario() -> tuple[LoadReport, TinyServer]:
        async with TinyServer(**server_options) as server:
            report = await run_load_async(LoadConfig(url=server.url, **config))
        return report, server

    return asyncio.run(scenario())


def _adds_up(report: LoadReport) -> None:
    assert report.requests == sum(report.status_counts.values())
    assert report.requests == sum(k.requests for k in report.by_kind.values())
    assert report.requests == sum(second[0] for second in report.timeline)
    assert report.errors == sum(n for s, n in report.status_counts.items() if not s.startswith("2"))


@pytest.mark.parametrize("mode", [{"concurrency": 4}, {"rate": 400.0}], ids=["closed", "open"])
def test_request_cap_is_exact(mode: dict[str, Any]) -> None:
    report, server = _load({}, requests=37, scenario="mixed", **mode)
    assert report.requests == 37 == server.post_count
    assert report.stopped_by == "requests"
    _adds_up(report)


def test_duration_cap_ends_the_run() -> None:
    started = time.monotonic()
    report, _ = _load({}, duration_s=0.5, concurrency=2)
    assert report.stopped_by == "duration"
    assert report.requests > 0
    assert time.monotonic() - started < 5.0  # bounded, with a wide margin for a busy machine
    _adds_up(report)


def test_open_loop_plans_rate_times_duration_requests() -> None:
    report, _ = _load({}, rate=200.0, duration_s=1.0)
    assert report.requests + report.not_sent in (200, 201)
    assert report.mode == "open"


def test_warmup_requests_are_sent_but_not_recorded() -> None:
    report, server = _load({}, warmup_s=0.3, requests=10, concurrency=2)
    assert report.requests == 10
    assert server.post_count > 10


def test_burst_alternates_busy_and_quiet_seconds() -> None:
    report, _ = _load({}, scenario="burst", rate=100.0, duration_s=4.0, burst_phase_s=1.0)
    per_second = [second[0] for second in report.timeline]
    assert per_second[0] > 3 * per_second[1]
    assert per_second[2] > 3 * per_second[3]


def test_server_errors_are_counted_with_their_trace_ids_and_bodies() -> None:
    report, server = _load({"statuses": {"/predict": 503}}, requests=20, concurrency=2)
    assert report.status_counts == {"503": 20}
    assert report.errors == report.failures_total == 20
    assert {f.trace_id for f in report.failures} <= set(server.trace_ids)
    assert report.error_samples["503"] == '{"rows": 1}'
    assert report.unexpected == 0  # a 5xx is an error, not a contract break


def test_slowest_requests_carry_the_trace_ids_the_server_sent(tmp_path: Path) -> None:
    report, server = _load({"delays": {"/predict/batch": 0.05}}, scenario="mixed", requests=60, concurrency=3, slowest_n=3)
    assert [s.kind for s in report.slowest] == ["/predict/batch"] * 3  # the only slow path
    assert all(s.trace_id in server.trace_ids for s in report.slowest)
    path = tmp_path / "report.json"
    report.write_json(path)
    data = json.loads(path.read_text())
    assert data["requests"] == 60 and data["slowest"][0]["trace_id"] == report.slowest[0].trace_id


def test_an_unready_target_is_reported_before_any_load() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TargetUnavailable, match="health/ready"):
        asyncio.run(run_load_async(LoadConfig(url=f"http://127.0.0.1:{port}", requests=5)))

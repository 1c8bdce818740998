"""A collector crash (SIGKILL) under load costs no request, and the pipeline recovers once it is back.

Runs last (see conftest): killing the collector discards what it held, e.g. traces still waiting
for their tail-sampling decision. What must hold: the service keeps answering every request while
its exporter has nowhere to send, and traces, logs and metrics flow again after `stack.sh up`
restarts the collector.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.e2e.backends import Elasticsearch, Jaeger, Prometheus, poll
from tests.e2e.collector import CollectorSettings
from tests.e2e.conftest import E2ERun, Stack
from tests.e2e.services import Load, Reply

pytestmark = pytest.mark.e2e

RECOVERY_TIMEOUT_S = 90


def collector_pid(stack: Stack) -> int:
    status = stack.command("status", timeout_s=30).stdout
    for line in status.splitlines():
        fields = line.split()
        if fields and fields[0] == "otel-collector" and fields[1].isdigit():
            return int(fields[1])
    raise AssertionError(f"no running collector in `stack.sh status`:\n{status}")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def replies_after(load: Load, t: float, n: int) -> bool:
    return sum(r.sent_at > t for r in load.replies) >= n


def test_collector_crash_loses_no_request_and_the_pipeline_recovers(
    run: E2ERun, stack: Stack, jaeger: Jaeger, prometheus: Prometheus, elasticsearch: Elasticsearch, collector: CollectorSettings
) -> None:
    fast, slow = run.services["fast"], run.services["slow"]
    pid = collector_pid(stack)
    with Load({fast: 20.0, slow: 2.0}) as load:
        poll(lambda: replies_after(load, 0, 20), timeout_s=30, what="load before the crash")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        poll(lambda: gone(pid), timeout_s=10, what=f"collector pid {pid} to exit")
        poll(lambda: replies_after(load, killed_at, 40), timeout_s=30, what="requests served while the collector is down")
        restart = stack.command("up", timeout_s=180)
        assert restart.returncode == 0, f"`bash scripts/stack.sh up` could not restart the collector:\n{restart.stdout}"
        restarted_at = time.time()
        assert collector_pid(stack) != pid
        poll(lambda: replies_after(load, restarted_at, 40), timeout_s=30, what="requests after the restart")

    window = [r for r in run.background.replies if killed_at <= r.sent_at <= restarted_at and r.role != "error"]
    failed = [r for r in load.replies + window if r.status != 200]
    assert not failed, f"{len(failed)} requests failed around the collector crash: {failed[:5]}"
    during = [r for r in load.replies if killed_at <= r.sent_at <= restarted_at]
    assert during, "no request was sent while the collector was down"

    # Traces: requests made after the restart reach Jaeger (slow traces are always kept).
    after: list[Reply] = [slow.predict() for _ in range(3)]
    assert all(r.status == 200 and r.trace_id for r in after), after
    ids = [r.trace_id for r in after if r.trace_id]
    poll(
        lambda: all(jaeger.trace(tid) is not None for tid in ids),
        timeout_s=RECOVERY_TIMEOUT_S,
        what=f"post-restart traces {ids} in Jaeger",
    )

    # Logs: their request records reach Elasticsearch.
    trace_id = after[0].trace_id
    poll(
        lambda: elasticsearch.search(collector.logs_index, {"term": {"TraceId": trace_id}}, size=1),
        timeout_s=RECOVERY_TIMEOUT_S,
        what=f"the post-restart request's log record ({trace_id}) in {collector.logs_index}",
    )

    # Metrics: the SDK's cumulative counters reach Prometheus again, with nothing missing: a fresh scrape
    # counts at least every fast request answered before the restart.
    served = sum(
        1 for r in [*run.burst["fast"], *run.background.replies, *load.replies] if r.role == "fast" and r.sent_at < restarted_at
    )
    expr = f'ml_stage_duration_seconds_count{{job="{fast.service_name}", ml_stage="validation"}}'
    poll(
        lambda: list(prometheus.query(f"timestamp({expr}) > {restarted_at} and {expr} >= {served}")),
        timeout_s=RECOVERY_TIMEOUT_S,
        what=f"{expr} scraped after the restart and >= {served}",
    )

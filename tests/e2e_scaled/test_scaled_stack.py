"""The two-tier Collector on the real binaries: whole traces, span metrics counted once, a gateway crash survived.

Three replicas of one service export to the agent (`stack.sh up-scaled`), which routes every span of a
trace to one of two gateways by trace id. What a user of the scaled stack relies on:
- a slow trace is in Jaeger whole, although its spans arrive in several exports and two gateways sample;
- both gateways share the work (their own telemetry says so);
- the span metrics, computed on each gateway for its share, add up over the gateways to the requests sent;
- a gateway killed under load costs no request, its share goes to the survivor, what it held is the only
  loss (visible in the Collectors' own metrics), and it gets its share back once restarted.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.e2e.backends import Jaeger, JaegerTrace, Prometheus, poll
from tests.e2e.services import Load, Reply
from tests.e2e.test_jaeger import HOT_FUNCTION, SERVER_SPAN, SLOW_FUNCTION, STAGES, top_function
from tests.e2e_scaled.conftest import (
    ACCEPTED_SPANS,
    AGENT_TELEMETRY,
    GATEWAY_TELEMETRY,
    SLOW_FAULT_MS,
    ScaledRun,
    component_pid,
    own_metric,
    stack,
)

pytestmark = pytest.mark.e2e

DEAD = "otel-gateway-1"
DEAD_OTLP = "127.0.0.2:24317"
TRACE_TIMEOUT_S = 60
# A gateway holds a trace until its sampling decision: decision_wait (10 s) at most, plus a 1 s batch.
HELD_S = 12.0


def agent_metric(name: str, **labels: str) -> float | None:
    return own_metric(AGENT_TELEMETRY, name, **labels)


def whole_slow_trace(jaeger: Jaeger, reply: Reply) -> JaegerTrace:
    """The reply's trace once Jaeger has all of it; asserts its shape: server span, four stages, hot functions."""
    assert reply.trace_id is not None
    trace = poll(
        lambda: t if (t := jaeger.trace(reply.trace_id)) is not None and len(t.spans) >= 1 + len(STAGES) else None,  # type: ignore[arg-type]
        timeout_s=TRACE_TIMEOUT_S,
        what=f"Jaeger to return trace {reply.trace_id} with a server span and {len(STAGES)} stages",
    )
    assert_whole(trace)
    return trace


def assert_whole(trace: JaegerTrace) -> None:
    server = trace.one(SERVER_SPAN)
    for stage in STAGES:
        assert trace.one(stage).parent_id == server.span_id, f"trace {trace.trace_id}: {stage} is not under the server span"
    assert trace.one("feature_engineering").duration_us >= SLOW_FAULT_MS * 1000
    assert server.events_named(HOT_FUNCTION), f"trace {trace.trace_id}: no hot functions on the server span"
    assert top_function(trace.one("feature_engineering")) == SLOW_FUNCTION


def test_every_slow_trace_is_whole_in_jaeger(scaled_run: ScaledRun) -> None:
    jaeger = Jaeger()
    for reply in scaled_run.burst["replica-3-slow"]:
        whole_slow_trace(jaeger, reply)


def test_both_gateways_received_spans_of_the_burst(scaled_run: ScaledRun) -> None:
    def grown() -> dict[str, float] | None:
        now = {gw: own_metric(address, ACCEPTED_SPANS) or 0.0 for gw, address in GATEWAY_TELEMETRY.items()}
        gained = {gw: now[gw] - scaled_run.gateway_spans_before[gw] for gw in now}
        # Every span of the burst reached a gateway: 5 per request (server span + 4 stages).
        return gained if sum(gained.values()) >= 5 * scaled_run.sent else None

    gained = poll(grown, timeout_s=30, what="the gateways' otelcol_receiver_accepted_spans_total to count the burst's spans")
    # 215 traces split by trace id: each gateway gets a fair share.
    total = sum(gained.values())
    assert all(v >= 0.2 * total for v in gained.values()), f"spans accepted per gateway during the burst: {gained}"


def test_server_span_calls_summed_over_gateways_equal_the_requests_sent(scaled_run: ScaledRun) -> None:
    prometheus = Prometheus()
    series = f'traces_span_metrics_calls_total{{job="{scaled_run.service_name}", span_kind="SPAN_KIND_SERVER"}}'
    sent = scaled_run.sent

    def counted() -> float | None:
        found = prometheus.query(f"sum({series})")
        value = found[0].value if found else 0.0
        assert value <= sent, f"{value} server spans counted for {sent} requests: counted twice somewhere"
        return value if value == sent else None

    poll(counted, timeout_s=90, what=f"sum({series}) == {sent}", interval_s=2.0)
    per_gateway = {s.labels.get("otelcol_gateway"): s.value for s in prometheus.query(f"sum by (otelcol_gateway) ({series})")}
    assert set(per_gateway) == {"gateway-1", "gateway-2"}, f"server span calls by gateway: {per_gateway}"


def test_a_killed_gateway_costs_no_request_and_its_share_moves_to_the_survivor(scaled_run: ScaledRun) -> None:
    jaeger, prometheus = Jaeger(), Prometheus()
    r1, r2, slow = (scaled_run.replicas[role] for role in ("replica-1", "replica-2", "replica-3-slow"))
    dead, dead_otlp = DEAD, DEAD_OTLP
    pid = component_pid(dead)
    failures_before = agent_metric("otelcol_loadbalancer_backend_outcome_total", endpoint=dead_otlp, success="false") or 0.0
    dropped_before = agent_metric("otelcol_exporter_send_failed_spans_total", exporter="load_balancing/traces") or 0.0

    with Load({r1: 10.0, r2: 10.0, slow: 2.0}) as load:
        poll(lambda: len(load.replies) >= 40, timeout_s=30, what="load before the kill")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        # The agent's resolver drops the dead gateway once its health check fails (stack.sh gateway-endpoints).
        poll(
            lambda: agent_metric("otelcol_loadbalancer_num_backends", resolver="dns") == 1,
            timeout_s=30,
            what="the agent to route to one gateway",
            interval_s=0.5,
        )
        rerouted_at = time.time()
        poll(
            lambda: sum(r.sent_at > rerouted_at + 1 for r in load.replies if r.role == "replica-3-slow") >= 10,
            timeout_s=30,
            what="slow requests while one gateway serves",
        )
        restart = stack("up-scaled", timeout_s=180)
        assert restart.returncode == 0, f"`stack.sh up-scaled` could not restart {dead}:\n{restart.stdout}{restart.stderr}"
        restarted_at = time.time()
        poll(
            lambda: agent_metric("otelcol_loadbalancer_num_backends", resolver="dns") == 2,
            timeout_s=30,
            what="the agent to route to both gateways again",
            interval_s=0.5,
        )
        back_at = time.time()
        # The restarted gateway counts from zero: any accepted span is one routed to it after the restart.
        poll(
            lambda: (own_metric(GATEWAY_TELEMETRY[dead], ACCEPTED_SPANS) or 0) > 0,
            timeout_s=30,
            what=f"{dead} to receive spans again after its restart",
        )
        poll(
            lambda: sum(r.sent_at > back_at + 1 for r in load.replies if r.role == "replica-3-slow") >= 4,
            timeout_s=30,
            what="slow requests after the restart",
        )

    failed = [r for r in load.replies if r.status != 200]
    assert not failed, f"{len(failed)} of {len(load.replies)} requests failed around the gateway crash: {failed[:5]}"

    # Visible in the Collectors' own telemetry: the agent's backend count fell to one (polled above) and Prometheus
    # saw the gateway down. Failed sends to it are counted too when a batch left before the health check noticed;
    # whether one did is a race with the 0.5 s check, so they are reported, not required.
    failures = (
        agent_metric("otelcol_loadbalancer_backend_outcome_total", endpoint=dead_otlp, success="false") or 0.0
    ) - failures_before
    since = int(time.time() - killed_at) + 1
    down = prometheus.query(f'min_over_time(up{{job="otelcol-gateway", instance="{GATEWAY_TELEMETRY[dead]}"}}[{since}s])')
    assert down and down[0].value == 0, f"Prometheus never saw {dead} down: {down}"
    # Re-routed, not dropped: the agent's retries found the survivor for every batch the dead gateway refused.
    dropped = (agent_metric("otelcol_exporter_send_failed_spans_total", exporter="load_balancing/traces") or 0.0) - dropped_before
    assert dropped == 0, f"the agent dropped {dropped} spans instead of re-routing them"

    # Every slow trace sent once the survivor had the whole ring, and after the restart, is whole in Jaeger.
    slow_replies = [r for r in load.replies if r.role == "replica-3-slow"]
    rerouted = [r for r in slow_replies if rerouted_at + 1 < r.sent_at < restarted_at]
    resumed = [r for r in slow_replies if r.sent_at > back_at + 1]
    assert rerouted and resumed, f"{len(rerouted)} slow requests while re-routed, {len(resumed)} after the restart"
    for reply in rerouted + resumed:
        whole_slow_trace(jaeger, reply)

    # The loss is bounded: only traces the dead gateway held (sent within HELD_S before the kill, or before the agent
    # noticed) can be missing or partial.
    def complete(reply: Reply) -> bool:
        trace = jaeger.trace(reply.trace_id) if reply.trace_id else None
        return trace is not None and len(trace.spans) >= 1 + len(STAGES)

    time.sleep(3)  # the last decisions (2 s after each root span) reach Jaeger
    lost = [r for r in slow_replies if r.sent_at <= rerouted_at + 1 and not complete(r)]
    outside = [r for r in lost if not killed_at - HELD_S <= r.sent_at <= rerouted_at + 1]
    assert not outside, f"slow traces lost outside the crash window: {[(r.trace_id, r.sent_at - killed_at) for r in outside]}"
    window = [r for r in slow_replies if killed_at - HELD_S <= r.sent_at <= rerouted_at + 1]
    print(
        f"gateway crash: {len(lost)} of {len(window)} slow traces in the crash window lost;"
        f" re-routed after {rerouted_at - killed_at:.1f}s; {failures:g} failed sends to it counted by the agent"
    )

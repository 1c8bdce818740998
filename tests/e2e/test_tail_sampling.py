"""Tail sampling keeps every failed and every slow trace, and about the configured share of the fast ones.

The "fast" and "slow_unprofiled" services neither fail nor profile (no ``profile.trigger``, no hot
functions), so the ``errors`` and ``profiled`` policies never match them and only latency separates
them: every slow trace must be kept (by the ``slow`` latency policy alone), the fast ones at the
``baseline`` share. tests/config/test_collector_sampling.py pins the policy's threshold and type.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.backends import Jaeger, JaegerTrace, poll
from tests.e2e.collector import CollectorSettings
from tests.e2e.conftest import E2ERun
from tests.e2e.services import Reply

pytestmark = pytest.mark.e2e

# Two-sided probability that a correctly configured sampler falls outside the accepted range.
FALSE_FAILURE = 1e-5


def binomial_interval(n: int, p: float, alpha: float) -> tuple[int, int]:
    """Smallest [lo, hi] with P(X < lo) <= alpha/2 and P(X > hi) <= alpha/2 for X ~ Binomial(n, p)."""

    def pmf(k: int) -> float:
        return math.exp(
            math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)
        )

    lo, tail = 0, 0.0
    while tail + pmf(lo) <= alpha / 2:
        tail += pmf(lo)
        lo += 1
    hi, tail = n, 0.0
    while tail + pmf(hi) <= alpha / 2:
        tail += pmf(hi)
        hi -= 1
    return lo, hi


SERVER_SPAN = "POST /predict"
TRACE_TIMEOUT_S = 90
DECISION_MARGIN_S = 5.0  # the collector's batch timeout and decision tick (1 s each), with room to spare


def kept_traces(jaeger: Jaeger, trace_ids: list[str]) -> dict[str, JaegerTrace]:
    """The traces among ``trace_ids`` that Jaeger holds now."""
    with ThreadPoolExecutor(8) as pool:
        found = pool.map(jaeger.trace, trace_ids)
        return {trace.trace_id: trace for trace in found if trace is not None}


def kept(jaeger: Jaeger, trace_ids: list[str]) -> set[str]:
    return set(kept_traces(jaeger, trace_ids))


def wait_for_all(jaeger: Jaeger, trace_ids: list[str], what: str) -> dict[str, JaegerTrace]:
    """Every one of ``trace_ids`` from Jaeger; fails naming how many were still missing."""
    missing: list[str] = list(trace_ids)

    def probe() -> dict[str, JaegerTrace] | None:
        found = kept_traces(jaeger, trace_ids)
        missing[:] = [tid for tid in trace_ids if tid not in found]
        return None if missing else found

    try:
        return poll(probe, timeout_s=TRACE_TIMEOUT_S, what=what, interval_s=2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {len(missing)} of {len(trace_ids)} never arrived, e.g. {missing[:3]}") from None


def decided_after(run: E2ERun, jaeger: Jaeger, replies: list[Reply], collector: CollectorSettings) -> Reply:
    """A kept trace that the collector decided after every one of ``replies``, once Jaeger returns it.

    The collector decides a trace at most ``decision_wait`` after its first span; the error service's
    background requests are always kept. One of them sent a ``decision_wait`` (plus the collector's
    batch and decision ticks) after the last of ``replies`` is decided, exported and indexed after all
    of them: once Jaeger returns it, the kept share of ``replies`` is final.
    """
    last = max(r.sent_at for r in replies)
    after = last + collector.decision_wait_s + DECISION_MARGIN_S

    def sentinel() -> Reply | None:
        later = (r for r in list(run.background.replies) if r.role == "error" and r.sent_at >= after and r.trace_id)
        reply = next(later, None)
        return reply if reply is not None and reply.trace_id and jaeger.trace(reply.trace_id) is not None else None

    return poll(
        sentinel,
        timeout_s=max(0.0, after - time.time()) + TRACE_TIMEOUT_S,
        what=f"a failed trace sent {after - last:.0f}s after the last counted request to reach Jaeger",
    )


def test_binomial_interval_matches_scipy() -> None:
    # scipy.stats.binom.ppf(5e-6, n, p), binom.isf(5e-6, n, p)
    assert binomial_interval(300, 0.1, 1e-5) == (10, 55)
    assert binomial_interval(300, 0.5, 1e-5) == (112, 188)


def test_every_failed_and_slow_trace_is_kept(run: E2ERun, jaeger: Jaeger) -> None:
    ids = [r.trace_id for role in ("error", "slow") for r in run.burst[role] if r.trace_id]
    assert len(ids) == len(run.burst["error"]) + len(run.burst["slow"])
    wait_for_all(jaeger, ids, f"all {len(ids)} failed and slow traces in Jaeger")


def test_every_slow_trace_is_kept_by_its_latency_alone(run: E2ERun, jaeger: Jaeger, collector: CollectorSettings) -> None:
    replies = run.burst["slow_unprofiled"]
    ids = [r.trace_id for r in replies if r.trace_id]
    assert len(ids) == len(replies)
    traces = wait_for_all(jaeger, ids, f"all {len(ids)} slow traces without profiler output in Jaeger")

    threshold_us = collector.latency_threshold_ms * 1000
    for trace in traces.values():
        server = trace.one(SERVER_SPAN)
        assert server.service == run.name("slow_unprofiled")
        assert server.duration_us > threshold_us, f"{trace.trace_id} is not slow: {server.duration_us} µs"
        # Nothing but its latency may qualify it: no error status, no profiler output on any span.
        for span in trace.spans:
            assert span.tags.get("otel.status_code") != "ERROR", f"{trace.trace_id}: {span.name} failed"
            assert "profile.trigger" not in span.tags, f"{trace.trace_id}: {span.name} was profiled"
            assert not span.events_named("profile.hot_function"), f"{trace.trace_id}: {span.name} carries hot functions"


def test_about_the_configured_share_of_fast_traces_is_kept(run: E2ERun, jaeger: Jaeger, collector: CollectorSettings) -> None:
    # Requests the client saw finish under the latency threshold cannot match the "slow" policy (the
    # server's span is shorter than what the client measured), and the fast service neither fails nor
    # profiles: only the probabilistic baseline can keep these traces.
    eligible = [r for r in run.burst["fast"] if r.latency_s * 1000 < collector.latency_threshold_ms]
    assert len(eligible) >= 0.9 * len(run.burst["fast"]), "the fast service was not fast"
    ids = [r.trace_id for r in eligible if r.trace_id]

    sentinel = decided_after(run, jaeger, eligible, collector)
    found = kept(jaeger, ids)

    p = collector.sampling_percent / 100
    lo, hi = binomial_interval(len(ids), p, FALSE_FAILURE)
    assert lo <= len(found) <= hi, (
        f"kept {len(found)} of {len(ids)} fast traces; {collector.sampling_percent}% sampling allows {lo}..{hi}"
        f" (counted once trace {sentinel.trace_id}, decided after all of them, was in Jaeger)"
    )

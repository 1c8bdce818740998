"""Tail sampling keeps every failed and every slow trace, and about the configured share of the fast ones."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.backends import Jaeger, poll
from tests.e2e.collector import CollectorSettings
from tests.e2e.conftest import E2ERun

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


def kept(jaeger: Jaeger, trace_ids: list[str]) -> set[str]:
    with ThreadPoolExecutor(8) as pool:
        found = pool.map(lambda tid: tid if jaeger.trace(tid) is not None else None, trace_ids)
        return {tid for tid in found if tid}


def test_binomial_interval_matches_scipy() -> None:
    # scipy.stats.binom.ppf(5e-6, n, p), binom.isf(5e-6, n, p)
    assert binomial_interval(300, 0.1, 1e-5) == (10, 55)
    assert binomial_interval(300, 0.5, 1e-5) == (112, 188)


def test_every_failed_and_slow_trace_is_kept(run: E2ERun, jaeger: Jaeger) -> None:
    ids = [r.trace_id for role in ("error", "slow") for r in run.burst[role] if r.trace_id]
    assert len(ids) == len(run.burst["error"]) + len(run.burst["slow"])
    poll(
        lambda: len(kept(jaeger, ids)) == len(ids),
        timeout_s=90,
        what=f"all {len(ids)} failed and slow traces in Jaeger",
        interval_s=2,
    )


def test_about_the_configured_share_of_fast_traces_is_kept(run: E2ERun, jaeger: Jaeger, collector: CollectorSettings) -> None:
    # Requests the client saw finish under the latency threshold cannot match the "slow" policy (the
    # server's span is shorter than what the client measured), and the fast service neither fails nor
    # profiles: only the probabilistic baseline can keep these traces.
    eligible = [r for r in run.burst["fast"] if r.latency_s * 1000 < collector.latency_threshold_ms]
    assert len(eligible) >= 0.9 * len(run.burst["fast"]), "the fast service was not fast"
    ids = [r.trace_id for r in eligible if r.trace_id]

    # Every decision is made decision_wait after a trace's first span at the latest; then count until stable.
    settle = max(r.sent_at for r in eligible) + collector.decision_wait_s + 5
    time.sleep(max(0.0, settle - time.time()))
    counts: list[int] = []

    def stable() -> set[str] | None:
        counts.append(len(found := kept(jaeger, ids)))
        return found if len(counts) >= 2 and counts[-1] == counts[-2] else None

    found = poll(stable, timeout_s=60, what="the kept fast-trace count to settle", interval_s=3)

    p = collector.sampling_percent / 100
    lo, hi = binomial_interval(len(ids), p, FALSE_FAILURE)
    assert lo <= len(found) <= hi, (
        f"kept {len(found)} of {len(ids)} fast traces; {collector.sampling_percent}% sampling allows {lo}..{hi} (counts {counts})"
    )

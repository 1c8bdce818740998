"""Medians over rounds, ratios to bare, and the target verdicts."""

from __future__ import annotations

import math

import pytest

from bench.stats import Sample, check_targets, ratio, summarize, summarize_all


def sample(config: str, rnd: int, requests: int, cpu_s: float, p50: float = 4000.0, rss: int = 100 << 20) -> Sample:
    return Sample(config, rnd, requests, 10.0, p50, 10 * p50, cpu_s, rss, 0.3, 0)


def test_summary_takes_the_median_of_each_metric_over_rounds() -> None:
    samples = [
        sample("bare", 0, 20000, 8.0, p50=3000),
        sample("bare", 1, 22000, 8.8, p50=3500),
        sample("bare", 2, 5000, 4.0, p50=9000),
    ]
    summary = summarize("bare", samples)
    assert summary.throughput == 2000.0  # the noisy round (500 req/s) does not drag the median
    assert summary.p50_us == 3500
    assert summary.cpu_us_per_request == pytest.approx(400.0)  # 8.0 s / 20000, 8.8 / 22000, 4.0 / 5000 -> median 400
    assert summary.throughput_spread == pytest.approx((2200 - 500) / 2000)
    assert summary.requests == 47000


def test_ratio_without_a_baseline_is_nan() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert math.isnan(ratio(3.0, 0.0))


def test_summaries_keep_the_configuration_order_and_skip_missing_ones() -> None:
    samples = [sample("full", 0, 100, 1.0), sample("bare", 0, 100, 1.0)]
    assert list(summarize_all(samples, ["bare", "production", "full"])) == ["bare", "full"]


def test_targets_judge_throughput_latency_and_competitors() -> None:
    summaries = summarize_all(
        [
            sample("bare", 0, 20000, 8.0, p50=4000),
            sample("production", 0, 18500, 8.0, p50=4300),  # 0.925x, p50 1.075x
            sample("full", 0, 11000, 8.0, p50=7000),  # 0.55x: misses 0.60
            sample("contrib", 0, 9000, 8.0, p50=8000),
        ],
        ["bare", "production", "full", "contrib"],
    )
    verdicts = {t.name: t.met for t in check_targets(summaries, speedup_single_row=9.5)}
    assert verdicts["production throughput"] is True
    assert verdicts["production p50"] is True
    assert verdicts["full throughput"] is False
    assert verdicts["production ahead of contrib"] is True
    assert verdicts["full ahead of contrib"] is True
    assert verdicts["ONNX vs scikit-learn, single row"] is False


def test_make_run_targets_judge_throughput_and_p99_against_bare() -> None:
    def verdicts(requests: int, p50: float) -> dict[str, bool]:
        samples = [sample("bare", 0, 20000, 8.0, p50=4000), sample("make-run", 0, requests, 8.0, p50=p50)]
        return {t.name: t.met for t in check_targets(summarize_all(samples, ["bare", "make-run"]), None)}

    assert verdicts(9000, 16000) == {"make-run throughput": True, "make-run p99": True}  # 0.45x, p99 4.0x
    assert verdicts(7800, 17000) == {"make-run throughput": False, "make-run p99": False}  # 0.39x, p99 4.25x

"""Percentile math, the recorder's bookkeeping, and the JSON report."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from service.loadgen.report import LatencySummary, Recorder, meets_expectation, parse_traceresponse, percentile


def test_percentile_matches_numpy_linear_interpolation() -> None:
    rng = random.Random(0)
    for n in (1, 2, 3, 10, 101, 1000):
        values = sorted(rng.expovariate(1.0) for _ in range(n))
        for q in (0, 1, 25, 50, 90, 95, 99, 99.9, 100):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_small_cases_by_hand() -> None:
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_summary_is_in_milliseconds() -> None:
    summary = LatencySummary.of([0.001 * i for i in range(1, 101)])
    assert summary.count == 100 and summary.min == pytest.approx(1.0) and summary.max == pytest.approx(100.0)
    assert summary.p50 == pytest.approx(50.5) and summary.p99 == pytest.approx(99.01)


def _trace(i: int) -> bytes:
    return f"00-{i:032x}-{'a' * 16}-{'01' if i % 2 else '00'}".encode()


def test_recorder_keeps_the_slowest_with_trace_ids_and_caps_failures() -> None:
    recorder = Recorder({"/predict": "2xx", "invalid": "4xx"}, slowest_n=3, failures_n=2)
    latencies = [0.010, 0.500, 0.020, 0.300, 0.040, 0.900, 0.001]
    for i, latency in enumerate(latencies):
        recorder.record("/predict", 1, 200, latency, _trace(i), None, 0.1)
    for i in range(5):
        recorder.record("invalid", 0, 422, 0.002, _trace(100 + i), b'{"detail":"bad"}', 1.5)
    recorder.record("/predict", 1, "timeout", 0.003, None, None, 1.7)
    slowest = recorder.slowest()
    assert [s.latency_ms for s in slowest] == [900.0, 500.0, 300.0]
    assert [s.trace_id for s in slowest] == [f"{5:032x}", f"{1:032x}", f"{3:032x}"]
    assert [s.sampled for s in slowest] == [True, True, True]
    assert recorder.failures_total == 6 and len(recorder.failures) == 2
    assert recorder.error_samples == {"422": '{"detail":"bad"}', "timeout": ""}
    assert recorder.status_counts() == {"200": 7, "422": 5, "timeout": 1}
    assert recorder.timeline == [[7, 0], [6, 6]]
    assert recorder.kind_summary("invalid").unexpected == 0
    assert recorder.kind_summary("/predict").errors == 1


def test_expectations_separate_contract_breaks_from_server_errors() -> None:
    assert meets_expectation("2xx", 200) and meets_expectation("2xx", 503) and meets_expectation("2xx", "timeout")
    assert not meets_expectation("2xx", 422)
    assert meets_expectation("4xx", 415) and not meets_expectation("4xx", 200) and not meets_expectation("4xx", 500)


def test_traceresponse_parsing() -> None:
    assert parse_traceresponse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        True,
    )
    assert parse_traceresponse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")[1] is False  # type: ignore[index]
    assert parse_traceresponse(None) is None and parse_traceresponse(b"garbage") is None


def test_progress_line_fills_with_the_nearer_bound() -> None:
    from service.loadgen.progress import render_line

    by_time = render_line(elapsed_s=5.0, total_s=10.0, done=10, total_n=0, errors=0, rps=2.0)
    assert "[############............]" in by_time and "50%" in by_time
    by_count = render_line(elapsed_s=1.0, total_s=0.0, done=75, total_n=100, errors=3, rps=75.0)
    assert "75%" in by_count and "3 err" in by_count

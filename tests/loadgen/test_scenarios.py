"""Scenario mixes are realised in the proportions they promise; bursts alternate around the mean."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from service.api.schemas import batch_adapter, row_adapter
from service.loadgen.scenarios import BURST_HIGH, BURST_LOW, SCENARIOS, Picker, build_pools


def _picks(name: str, n: int = 20_000) -> list:  # type: ignore[type-arg]
    pools = build_pools(SCENARIOS[name], random.Random(1), 10_000)
    picker = Picker(pools, random.Random(2))
    return [picker.pick() for _ in range(n)]


def test_mixed_sends_singles_probabilities_and_batches_of_10_to_100_rows() -> None:
    picks = _picks("mixed")
    shares = {kind: n / len(picks) for kind, n in Counter(j.kind for j in picks).items()}
    assert shares == pytest.approx({"/predict": 0.60, "/predict_proba": 0.25, "/predict/batch": 0.15}, abs=0.02)
    batches = [j for j in picks if j.path == "/predict/batch"]
    assert {j.rows for j in batches} <= set(range(10, 101)) and len({j.rows for j in batches}) > 20
    assert all(len(json.loads(j.body)["instances"]) == j.rows for j in batches[:50])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_job_meets_its_own_expectation_against_the_schema(name: str) -> None:
    rows, batches = row_adapter(), batch_adapter(1000)
    for _, pool in build_pools(SCENARIOS[name], random.Random(3), 10_000):
        for job in pool[:200]:
            adapter = batches if job.path == "/predict/batch" else rows
            if job.expect == "2xx":
                adapter.validate_json(job.body)
                assert job.content_type == "application/json"
            else:
                assert job.content_type != "application/json" or _invalid(adapter, job.body)


def _invalid(adapter: object, body: bytes) -> bool:
    try:
        adapter.validate_json(body)  # type: ignore[attr-defined]
    except ValueError:
        return True
    return False


def test_errors_scenario_mixes_a_fifth_of_invalid_requests() -> None:
    picks = _picks("errors")
    assert sum(j.expect == "4xx" for j in picks) / len(picks) == pytest.approx(0.2, abs=0.02)


def test_slow_scenario_sends_a_few_big_batches() -> None:
    big = [j for j in _picks("slow") if j.path == "/predict/batch"]
    assert 0.03 < len(big) / 20_000 < 0.07
    assert min(j.rows for j in big) >= 500 and max(j.rows for j in big) <= 1000


def test_burst_alternates_high_and_low_phases_whose_mean_is_the_target() -> None:
    burst = SCENARIOS["burst"]
    factors = [burst.load_factor(t / 10, phase_s=1.0) for t in range(40)]
    assert factors[:10] == [BURST_HIGH] * 10 and factors[10:20] == [BURST_LOW] * 10
    assert sum(factors) / len(factors) == pytest.approx(1.0)
    assert SCENARIOS["steady"].load_factor(3.3, 1.0) == 1.0


def test_a_short_run_does_not_draw_more_bodies_than_it_can_send() -> None:
    pools = build_pools(SCENARIOS["mixed"], random.Random(1), max_requests=5)
    assert all(len(pool) <= 5 for _, pool in pools)

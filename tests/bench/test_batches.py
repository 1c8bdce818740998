"""The small-batch rows of the overhead benchmark: their load, their own baseline, their table and target."""

from __future__ import annotations

import pytest

from bench.configs import select
from bench.report import batch_table, overhead_table
from bench.stats import Sample, check_targets, summarize_all
from bench.wrk import BATCH_PATH, PREDICT_PATH, load_target, lua_script

BASELINES = {"production-batch10": "bare-batch10", "production-batch100": "bare-batch100"}


def _sample(config: str, requests: int, cpu_s: float, rows: int = 1) -> Sample:
    return Sample(config, 0, requests, 10.0, 2000.0, 8000.0, cpu_s, 100 << 20, 0.3, 0, rows_per_request=rows)


@pytest.mark.parametrize("rows", [10, 100])
def test_batch_load_posts_valid_batches_of_that_many_rows(rows: int) -> None:
    from service.api.schemas import batch_adapter

    path, bodies = load_target(rows)
    assert path == BATCH_PATH and len(set(bodies)) == len(bodies) > 1
    for body in bodies:
        assert len(batch_adapter(1000).validate_json(body)["instances"]) == rows
    assert f'"POST", "{BATCH_PATH}"' in lua_script(bodies, path)
    assert load_target(0)[0] == PREDICT_PATH


def test_selecting_a_batch_configuration_brings_its_own_baseline() -> None:
    chosen = {c.name: c for c in select(["production-batch10"])}
    assert set(chosen) == {"bare", "bare-batch10", "production-batch10"}
    assert chosen["production-batch10"].baseline == "bare-batch10"
    assert chosen["production-batch10"].batch_rows == chosen["bare-batch10"].batch_rows == 10
    assert chosen["bare-batch10"].env["OTEL_SDK_DISABLED"] == "true"


def test_batch_rows_are_compared_with_their_own_baseline_in_their_own_table() -> None:
    summaries = summarize_all(
        [
            _sample("bare", 40000, 9.0),
            _sample("bare-batch10", 30000, 9.0, rows=10),
            _sample("production-batch10", 24000, 9.6, rows=10),  # 0.80x of bare-batch10, 0.60x of bare
        ],
        ["bare", "bare-batch10", "production-batch10"],
    )
    assert summaries["production-batch10"].rows_per_second == pytest.approx(24000.0)
    assert not any("batch" in line for line in overhead_table(summaries)), "batches stay out of the one-row table"
    table = batch_table(summaries)
    (production,) = [line for line in table if "production-batch10" in line]
    cells = [cell.strip() for cell in production.strip("|").split("|")]
    assert cells[:5] == ["10", "production-batch10", "2400", "24000", "0.80×"]
    assert cells[7:10] == ["400", "40.0", "+100"]  # CPU µs per request, per row, and over bare-batch10 (300)


def test_batch_target_is_three_quarters_of_its_own_baseline() -> None:
    summaries = summarize_all(
        [
            _sample("bare", 40000, 9.0),
            _sample("bare-batch10", 30000, 9.0, rows=10),
            _sample("production-batch10", 22000, 9.0, rows=10),  # 0.733x: misses 0.75
            _sample("bare-batch100", 10000, 9.0, rows=100),
            _sample("production-batch100", 7600, 9.0, rows=100),  # 0.76x
        ],
        ["bare", "bare-batch10", "production-batch10", "bare-batch100", "production-batch100"],
    )
    verdicts = {t.name: (t.met, t.goal) for t in check_targets(summaries, None, BASELINES)}
    assert verdicts["production-batch10 throughput"] == (False, ">= 0.75x bare-batch10")
    assert verdicts["production-batch100 throughput"] == (True, ">= 0.75x bare-batch100")

"""Generated bodies obey the request contract, the drift really shifts, invalid ones really are."""

from __future__ import annotations

import random
import statistics
from typing import Any

import pytest
from pydantic import ValidationError

from service.api.schemas import batch_adapter, row_adapter
from service.loadgen.bodies import BASELINE, DRIFTED, INVALID_REASONS, Population, encode, invalid_body
from service.pipeline.vocabulary import HOME_OWNERSHIP, LOAN_TERMS, PURPOSES, RAW_FIELDS

INT_FIELDS = {"age", "loan_term_months", "credit_history_months", "open_accounts", "delinquencies_2y"}


def _sample(population: Population, n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [population.application(rng) for _ in range(n)]


@pytest.mark.parametrize("population", [BASELINE, DRIFTED], ids=["baseline", "drifted"])
def test_every_generated_application_passes_the_service_schema(population: Population) -> None:
    adapter = row_adapter()
    for body in _sample(population, 3000):
        adapter.validate_json(encode(body))  # the exact bytes the service will parse; raises if invalid
        assert set(body) == set(RAW_FIELDS)
        assert {k for k, v in body.items() if type(v) is int} == INT_FIELDS  # strict: no 35.0 ages
        assert body["home_ownership"] in HOME_OWNERSHIP and body["purpose"] in PURPOSES
        assert body["loan_term_months"] in LOAN_TERMS
        assert body["employment_years"] <= body["age"] - 18  # plausible, not just in range


def test_batches_pass_the_batch_schema_at_its_row_limit() -> None:
    batch = BASELINE.batch(random.Random(1), 1000)
    batch_adapter(1000).validate_json(encode(batch))
    assert len(encode(batch)) < 1_048_576  # the service's default MAX_BODY_BYTES


def test_drift_cuts_incomes_by_forty_percent_and_boosts_small_business_loans() -> None:
    base, drifted = _sample(BASELINE, 5000), _sample(DRIFTED, 5000)
    ratio = statistics.median(b["annual_income"] for b in drifted) / statistics.median(b["annual_income"] for b in base)
    assert 0.55 < ratio < 0.65

    def share(rows: list[dict[str, Any]]) -> float:
        return sum(r["purpose"] == "small_business" for r in rows) / len(rows) if rows else 0.0

    assert share(base) < 0.07
    assert share(drifted) > 0.25
    # Everything else keeps its distribution: ages are drawn the same way.
    assert abs(statistics.mean(b["age"] for b in base) - statistics.mean(b["age"] for b in drifted)) < 1.0


def test_the_same_seed_draws_the_same_bodies() -> None:
    assert _sample(BASELINE, 50, seed=3) == _sample(BASELINE, 50, seed=3)
    assert _sample(BASELINE, 50, seed=3) != _sample(BASELINE, 50, seed=4)


def test_each_invalid_body_breaks_the_contract() -> None:
    adapter = row_adapter()
    rng = random.Random(5)
    seen = set()
    for _ in range(300):
        reason, body, content_type = invalid_body(rng)
        seen.add(reason)
        if reason == "wrong_content_type":
            assert content_type != "application/json"
            continue
        with pytest.raises(ValidationError):
            adapter.validate_json(body)
    assert seen == set(INVALID_REASONS)

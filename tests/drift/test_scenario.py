"""The load generator's populations: baseline traffic looks like the training reference, and the
drift scenario shifts exactly what it says (incomes -40 %, small_business 5 % -> 30 %)."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest

from service.config import Settings
from service.drift.buckets import DriftReference, decile_bucket
from service.drift.psi import psi
from service.loadgen.bodies import (
    BASELINE,
    DRIFT_INCOME_FACTOR,
    DRIFT_SMALL_BUSINESS_SHARE,
    DRIFTED,
    DRIFTED_FIELDS,
    Population,
)
from service.loadgen.scenarios import SCENARIOS, build_pools
from service.pipeline.model import ModelCard
from service.pipeline.vocabulary import NUMERIC_FIELDS, RAW_FIELDS

REFERENCE = DriftReference.from_card(ModelCard.load(Settings.from_env({}).model_card_path).raw)
N = 8000


def _sample(population: Population, n: int = N, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [population.application(rng) for _ in range(n)]


def _input_psi(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per raw feature PSI of ``rows`` against the card, bucketed the service's way."""
    result = {}
    for feature in REFERENCE.features:
        if feature.name not in RAW_FIELDS:
            continue
        if feature.name in NUMERIC_FIELDS:
            buckets = decile_bucket(feature.edges, np.array([r[feature.name] for r in rows], dtype=float))
            labels = [f"q{i:02d}" for i in buckets]
        else:
            labels = [r[feature.name] for r in rows]
        counts = [labels.count(label) for label in feature.labels]
        assert sum(counts) == len(rows), f"{feature.name}: a value fell in no exported bucket"
        result[feature.name] = psi(feature.reference, counts)
    return result


def test_baseline_traffic_matches_the_training_reference_on_every_feature() -> None:
    noise = 10 / N  # about (buckets - 1) / rows
    values = _input_psi(_sample(BASELINE))
    assert max(values.values()) < 3 * noise, values


def test_drifted_traffic_moves_exactly_the_drifted_fields() -> None:
    values = _input_psi(_sample(DRIFTED))
    assert {f for f, v in values.items() if v > 0.2} == set(DRIFTED_FIELDS)
    assert max(v for f, v in values.items() if f not in DRIFTED_FIELDS) < 3 * 10 / N


def test_a_drifted_applicant_is_the_baseline_applicant_with_two_changes() -> None:
    changed: set[str] = set()
    for seed in range(2000):
        base, drifted = BASELINE.application(random.Random(seed)), DRIFTED.application(random.Random(seed))
        changed |= {k for k in RAW_FIELDS if base[k] != drifted[k]}
        assert drifted["annual_income"] == round(base["annual_income"] * DRIFT_INCOME_FACTOR, -2)
        assert drifted["purpose"] in (base["purpose"], "small_business")
    assert changed == set(DRIFTED_FIELDS)


def test_the_drift_reaches_its_stated_shares() -> None:
    base, drifted = _sample(BASELINE), _sample(DRIFTED)

    def share(rows):
        return sum(r["purpose"] == "small_business" for r in rows) / len(rows)

    assert share(base) == pytest.approx(0.05, abs=0.01)
    assert share(drifted) == pytest.approx(DRIFT_SMALL_BUSINESS_SHARE, abs=0.015)
    ratio = np.median([r["annual_income"] for r in drifted]) / np.median([r["annual_income"] for r in base])
    assert ratio == pytest.approx(DRIFT_INCOME_FACTOR, abs=0.01)


def test_the_drift_scenario_sends_drifted_bodies_and_steady_sends_baseline_ones() -> None:
    ((_, drift_jobs),) = build_pools(SCENARIOS["drift"], random.Random(1), 3000)
    ((_, steady_jobs),) = build_pools(SCENARIOS["steady"], random.Random(1), 3000)
    assert {j.path for j in drift_jobs} == {"/predict"}
    assert _input_psi([json.loads(j.body) for j in drift_jobs])["annual_income"] > 0.5
    assert max(_input_psi([json.loads(j.body) for j in steady_jobs]).values()) < 0.02

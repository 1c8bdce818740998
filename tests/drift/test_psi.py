"""PSI from counts equals a direct computation; verdicts follow the 0.1 / 0.2 reading."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.drift.psi import EPSILON, expected_noise, psi, psi_terms, shares, verdict


def direct_psi(reference: np.ndarray, counts: np.ndarray) -> float:
    """PSI written out longhand: floor both shares at 1e-4, sum (q - p) ln(q / p)."""
    p = np.maximum(reference, EPSILON)
    q = np.maximum(counts / counts.sum(), EPSILON)
    return float(np.sum((q - p) * np.log(q) - (q - p) * np.log(p)))


@pytest.mark.parametrize("seed", range(20))
def test_psi_from_counts_matches_a_direct_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    buckets = int(rng.integers(2, 12))
    reference = rng.dirichlet(np.ones(buckets))
    counts = rng.integers(0, 500, buckets).astype(float)
    counts[rng.integers(0, buckets)] = 0.0  # an empty bucket: the floor must apply
    assert psi(reference, counts) == pytest.approx(direct_psi(reference, counts), rel=1e-12, abs=1e-15)


def test_a_hand_computed_case() -> None:
    # reference 50/50, current 90/10: 0.4 ln(0.9/0.5) + (-0.4) ln(0.1/0.5) = 0.4 (ln 1.8 + ln 5)
    assert psi([0.5, 0.5], [90, 10]) == pytest.approx(0.4 * (math.log(1.8) + math.log(5.0)))


def test_identical_distributions_give_zero_whatever_the_volume() -> None:
    reference = np.array([0.1, 0.2, 0.3, 0.4])
    assert psi(reference, reference * 1000) == pytest.approx(0.0, abs=1e-15)
    assert psi(reference, reference * 7) == pytest.approx(0.0, abs=1e-15)


def test_terms_are_never_negative_and_sum_to_the_psi() -> None:
    rng = np.random.default_rng(1)
    reference, counts = rng.dirichlet(np.ones(10)), rng.integers(0, 100, 10)
    terms = psi_terms(reference, shares(counts))
    assert np.all(terms >= 0)
    assert terms.sum() == pytest.approx(psi(reference, counts))


def test_no_traffic_is_not_a_distribution() -> None:
    assert shares([0, 0, 0]).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "none"),
        (0.1, "none"),
        (0.1001, "moderate"),
        (0.2, "moderate"),
        (0.2001, "significant"),
        (None, "no_data"),
        (float("nan"), "no_data"),
    ],
)
def test_verdicts(value: float | None, expected: str) -> None:
    assert verdict(value) == expected


def test_sampling_noise_estimate_matches_simulation() -> None:
    """(k - 1) / n is what identical-distribution samples really give on average."""
    rng = np.random.default_rng(3)
    reference = np.full(10, 0.1)
    simulated = np.mean([psi(reference, rng.multinomial(500, reference)) for _ in range(400)])
    assert simulated == pytest.approx(expected_noise(10, 500), rel=0.2)

"""Population stability index from bucket counts, and the verdict it implies.

    PSI = sum over buckets b of (current_b - reference_b) * ln(current_b / reference_b)

where ``current_b`` and ``reference_b`` are shares (each sums to 1 over the feature's buckets).
A share of 0 would make a term infinite, so both are floored at :data:`EPSILON` first (the
convention of Evidently and most PSI implementations); the Prometheus recording rules use the
same floor, so a report and a dashboard agree on the number.

Verdicts follow the usual PSI reading: below 0.1 no meaningful shift, 0.1 to 0.2 moderate,
above 0.2 significant (the ``FeatureDrift``/``PredictionDrift`` alert threshold).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import numpy as np

EPSILON: Final = 1e-4
MODERATE: Final = 0.1
SIGNIFICANT: Final = 0.2

Verdict = Literal["none", "moderate", "significant", "no_data"]


def shares(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    """Counts -> shares; all zeros stays all zeros (no traffic is not a distribution)."""
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values)


def psi_terms(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray) -> np.ndarray:
    """Each bucket's contribution (all >= 0) given reference and current *shares*."""
    ref = np.maximum(np.asarray(reference, dtype=np.float64), EPSILON)
    cur = np.maximum(np.asarray(current, dtype=np.float64), EPSILON)
    terms: np.ndarray = (cur - ref) * np.log(cur / ref)
    return terms


def psi(reference: Sequence[float] | np.ndarray, counts: Sequence[float] | np.ndarray) -> float:
    """PSI of current ``counts`` against ``reference`` shares, bucket for bucket."""
    return float(psi_terms(reference, shares(counts)).sum())


def verdict(value: float | None, moderate: float = MODERATE, significant: float = SIGNIFICANT) -> Verdict:
    if value is None or np.isnan(value):
        return "no_data"
    if value > significant:
        return "significant"
    if value > moderate:
        return "moderate"
    return "none"


def expected_noise(buckets: int, rows: int) -> float:
    """PSI that sampling noise alone gives on average: about (buckets - 1) / rows.

    PSI is close to a chi-square statistic divided by the row count, so small samples read
    as drift; the report flags features whose count makes this exceed a tenth of the moderate
    threshold, and the alerts require a minimum count in their window.
    """
    return (buckets - 1) / rows if rows > 0 else float("inf")

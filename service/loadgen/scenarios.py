"""The load scenarios: which requests are sent, in what mix, and how the load varies over time.

A scenario is a weighted mix of request kinds plus a load shape. Request bodies are drawn once
into small pools before the run (so the hot loop only picks a pre-encoded request) and the mix
is realised by a weighted pick per request.

============ ==================================================================================
steady       ``POST /predict`` with random valid applicants drawn like the training data, constant load.
burst        as steady, alternating high (1.8x) and low (0.2x) phases; the mean is the target.
slow         95 % ``/predict``, 5 % ``/predict/batch`` of 500-1000 rows. Start the service with
             ``FAULT_SLOW_FEATURE_MS`` (e.g. 200) to see slow traces and profiles.
errors       80 % valid ``/predict``, 20 % invalid bodies (each must get a 4xx). Start the
             service with ``FAULT_ERROR_RATE`` (e.g. 0.05) for 5xx as well.
mixed        60 % ``/predict``, 25 % ``/predict_proba``, 15 % ``/predict/batch`` of 10-100 rows.
drift        as steady, inputs shifted: incomes -40 %, small_business loans 5 % -> 30 %, every
             other field as drawn. The drift monitor (``ml.feature.bucket``, alerts
             ``FeatureDrift``/``PredictionDrift``, ``python -m service.drift``) must flag
             annual_income, purpose and the score, and nothing else.
============ ==================================================================================
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from service.loadgen.bodies import BASELINE, DRIFTED, Population, encode, invalid_body

T = TypeVar("T")
BURST_HIGH = 1.8
BURST_LOW = 0.2


@dataclass(frozen=True)
class Job:
    """One request to send. ``expect`` is the status class the contract promises for it."""

    kind: str
    path: str
    body: bytes
    content_type: str = "application/json"
    rows: int = 1
    expect: str = "2xx"
    method: str = "POST"


@dataclass(frozen=True)
class MixEntry:
    """A share of the traffic and how to draw one request of it."""

    weight: float
    pool_size: int
    make: Callable[[random.Random], Job]


@dataclass(frozen=True)
class FaultHint:
    """The server-side fault that makes a scenario show what it is for, e.g. ``FAULT_SLOW_FEATURE_MS=200``."""

    variable: str
    suggested: str
    effect: str  # "to inject slow feature engineering"

    def text(self, faults: Mapping[str, float] | None) -> str:
        """The hint, given the service's ``FAULT_*`` settings (``None``: they could not be read)."""
        value = None if faults is None else faults.get(self.variable)
        if value:
            return f"the service runs with {self.variable}={value:g} ({self.effect.removeprefix('to ')})"
        hint = f"start the service with {self.variable}={self.suggested} {self.effect}"
        return hint if value is not None else f"{hint} (its settings could not be read from /metrics)"


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    mix: tuple[MixEntry, ...]
    bursty: bool = False
    fault: FaultHint | None = None

    @property
    def max_factor(self) -> float:
        return BURST_HIGH if self.bursty else 1.0

    def load_factor(self, elapsed_s: float, phase_s: float) -> float:
        """Load multiplier at ``elapsed_s``; bursty scenarios start with a high phase."""
        if not self.bursty:
            return 1.0
        return BURST_HIGH if int(elapsed_s // phase_s) % 2 == 0 else BURST_LOW


def single(path: str, population: Population = BASELINE) -> Callable[[random.Random], Job]:
    return lambda rng: Job(path, path, encode(population.application(rng)))


def batch(low: int, high: int, kind: str = "/predict/batch") -> Callable[[random.Random], Job]:
    def make(rng: random.Random) -> Job:
        rows = rng.randint(low, high)
        return Job(kind, "/predict/batch", encode(BASELINE.batch(rng, rows)), rows=rows)

    return make


def invalid(rng: random.Random) -> Job:
    _reason, body, content_type = invalid_body(rng)
    return Job("invalid", "/predict", body, content_type=content_type, rows=0, expect="4xx")


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("steady", "POST /predict, random valid applicants, constant load", (MixEntry(1.0, 2048, single("/predict")),)),
        Scenario(
            "burst",
            f"as steady, alternating {BURST_HIGH}x and {BURST_LOW}x phases",
            (MixEntry(1.0, 2048, single("/predict")),),
            bursty=True,
        ),
        Scenario(
            "slow",
            "95% /predict, 5% /predict/batch of 500-1000 rows",
            (MixEntry(0.95, 2048, single("/predict")), MixEntry(0.05, 8, batch(500, 1000, "/predict/batch (big)"))),
            fault=FaultHint("FAULT_SLOW_FEATURE_MS", "200", "to inject slow feature engineering"),
        ),
        Scenario(
            "errors",
            "80% valid /predict, 20% invalid bodies (expect 4xx)",
            (MixEntry(0.8, 2048, single("/predict")), MixEntry(0.2, 512, invalid)),
            fault=FaultHint("FAULT_ERROR_RATE", "0.05", "to get 5xx as well"),
        ),
        Scenario(
            "mixed",
            "60% /predict, 25% /predict_proba, 15% /predict/batch of 10-100 rows",
            (
                MixEntry(0.60, 2048, single("/predict")),
                MixEntry(0.25, 1024, single("/predict_proba")),
                MixEntry(0.15, 256, batch(10, 100)),
            ),
        ),
        Scenario(
            "drift",
            "as steady, incomes -40%, small_business 5% -> 30%, all else unchanged",
            (MixEntry(1.0, 2048, single("/predict", DRIFTED)),),
        ),
    )
}


class Picker(Generic[T]):
    """Weighted pick of a prepared request: one ``random()`` and a bisect per request."""

    def __init__(self, pools: Sequence[tuple[float, Sequence[T]]], rng: random.Random) -> None:
        pools = [(w, p) for w, p in pools if w > 0 and p]
        if not pools:
            raise ValueError("a scenario needs at least one non-empty pool")
        total = sum(w for w, _ in pools)
        self._cumulative = list(itertools.accumulate(w / total for w, _ in pools))
        self._pools = [p for _, p in pools]
        self._rng = rng

    def pick(self) -> T:
        rng = self._rng
        index = min(bisect.bisect_right(self._cumulative, rng.random()), len(self._pools) - 1)
        pool = self._pools[index]
        return pool[int(rng.random() * len(pool))]


def build_pools(scenario: Scenario, rng: random.Random, max_requests: int) -> list[tuple[float, list[Job]]]:
    """Draw each mix entry's pool once; a short run never draws more bodies than it can send."""
    return [(e.weight, [e.make(rng) for _ in range(max(1, min(e.pool_size, max_requests)))]) for e in scenario.mix]

"""Random loan applications for load tests: plausible, valid against the request contract.

Why not replay the one example body: a constant input exercises one path through feature
engineering and one leaf of every tree, and makes the score histogram a single spike. These
draws follow rough consumer-credit shapes (log-normal incomes and amounts, most applicants
without delinquencies) and always stay inside the contract of ``service/api/schemas.py``
(ranges, ``Literal`` categories, ints where ints are required, floats where floats are).

``Population.drifted()`` is the drift demo: incomes down 40 % and many more small-business
loans, so drift reports and the score histogram visibly move.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, replace
from typing import Any

from service.pipeline.vocabulary import HOME_OWNERSHIP, LOAN_TERMS, PURPOSES

Body = dict[str, Any]

# Weights of the categorical draws (same order as the vocabulary tuples).
TERM_WEIGHTS = (0.10, 0.20, 0.40, 0.10, 0.20)
HOME_WEIGHTS = (0.42, 0.15, 0.40, 0.03)  # RENT, OWN, MORTGAGE, OTHER
PURPOSE_WEIGHTS = (0.45, 0.20, 0.10, 0.09, 0.05, 0.04, 0.07)
DRIFT_INCOME_FACTOR = 0.6
DRIFT_SMALL_BUSINESS_SHARE = 0.30


@dataclass(frozen=True)
class Population:
    """The distribution applicants are drawn from; ``drifted()`` returns the shifted one."""

    income_factor: float = 1.0
    small_business_share: float = PURPOSE_WEIGHTS[PURPOSES.index("small_business")]

    def drifted(self) -> Population:
        return replace(self, income_factor=DRIFT_INCOME_FACTOR, small_business_share=DRIFT_SMALL_BUSINESS_SHARE)

    def purpose_weights(self) -> tuple[float, ...]:
        """Baseline weights with small_business set to its share and the others rescaled."""
        sb = PURPOSES.index("small_business")
        others = sum(w for i, w in enumerate(PURPOSE_WEIGHTS) if i != sb)
        scale = (1.0 - self.small_business_share) / others
        return tuple(self.small_business_share if i == sb else w * scale for i, w in enumerate(PURPOSE_WEIGHTS))

    def application(self, rng: random.Random) -> Body:
        """One applicant; every value is inside the contract's range."""
        age = _clip_int(rng.gauss(41.0, 12.0), 18, 80)
        income = _clip(rng.lognormvariate(math.log(52_000.0), 0.5), 9_000.0, 600_000.0)
        income = round(income * self.income_factor, -2)
        amount = _clip(rng.lognormvariate(math.log(11_000.0), 0.7), 1_000.0, 80_000.0)
        working_years = max(age - 18, 0)
        employment = round(min(rng.expovariate(1 / 6.0), working_years, 60.0), 1)
        history = _clip_int(rng.uniform(0.2, 1.0) * working_years * 12 + 6, 0, 900)
        return {
            "age": age,
            "annual_income": float(income),
            "loan_amount": float(round(amount, -2)),
            "loan_term_months": rng.choices(LOAN_TERMS, TERM_WEIGHTS)[0],
            "employment_years": float(employment),
            "credit_history_months": history,
            "open_accounts": _clip_int(rng.gauss(6.0, 3.0), 0, 40),
            "delinquencies_2y": rng.choices((0, 1, 2, 3, 4, 6), (0.78, 0.13, 0.05, 0.02, 0.015, 0.005))[0],
            "debt_to_income": round(_clip(rng.gauss(18.0, 8.0), 0.0, 65.0), 1),
            "home_ownership": rng.choices(HOME_OWNERSHIP, HOME_WEIGHTS)[0],
            "purpose": rng.choices(PURPOSES, self.purpose_weights())[0],
        }

    def batch(self, rng: random.Random, rows: int) -> Body:
        """A ``/predict/batch`` body of ``rows`` applicants."""
        return {"instances": [self.application(rng) for _ in range(rows)]}


BASELINE = Population()
DRIFTED = BASELINE.drifted()


# Each invalid body names the rule it breaks; the service must answer all with a 4xx.
def invalid_body(rng: random.Random, population: Population = BASELINE) -> tuple[str, bytes, str]:
    """A bad request: (reason, raw body, content type). The service must reject it with a 4xx."""
    body = population.application(rng)
    reason = rng.choice(INVALID_REASONS)
    content_type = "application/json"
    if reason == "missing_field":
        del body[rng.choice(sorted(body))]
    elif reason == "out_of_range":
        body[rng.choice(("age", "debt_to_income", "open_accounts"))] = 1_000
    elif reason == "unknown_category":
        body["purpose"] = "yacht"
    elif reason == "wrong_type":
        body["annual_income"] = "55k"
    elif reason == "extra_field":
        body["favourite_colour"] = "green"
    elif reason == "malformed_json":
        return reason, encode(body)[:-7], content_type
    elif reason == "wrong_content_type":
        content_type = "text/plain"
    return reason, encode(body), content_type


INVALID_REASONS = (
    "missing_field",
    "out_of_range",
    "unknown_category",
    "wrong_type",
    "extra_field",
    "malformed_json",
    "wrong_content_type",
)


def encode(body: Body) -> bytes:
    """Compact JSON, the way real clients send it."""
    return json.dumps(body, separators=(",", ":")).encode()


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _clip_int(value: float, low: int, high: int) -> int:
    return min(max(round(value), low), high)

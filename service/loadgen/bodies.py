"""Random loan applications for load tests: realistic, valid against the request contract.

Why not replay the one example body: a constant input exercises one path through feature
engineering and one leaf of every tree, and makes the score histogram a single spike. The
baseline draws mirror the training data's generating process (``generate_dataset`` in
``scripts/train_model.py``: same marginals and dependencies), so steady traffic looks like the
model card's reference and the drift monitor stays quiet on it (``tests/drift`` holds every
feature's PSI of this population under 0.1). Every value stays inside the contract of
``service/api/schemas.py`` (ranges, ``Literal`` categories, ints where ints are required, floats
where floats are).

``Population.drifted()`` is the drift demo and test: each applicant is the baseline applicant
of the same random draws with exactly two changes, income down 40 % and a share of loans
relabelled small-business (5 % -> 30 %). Every other field keeps its value, so the drift
monitor must flag ``annual_income``, ``purpose`` and the score, and nothing else.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, replace
from typing import Any

from service.pipeline.vocabulary import HOME_OWNERSHIP, LOAN_TERMS, PURPOSES

Body = dict[str, Any]

# The training data's generating process (scripts/train_model.py), vocabulary order.
PURPOSE_SHARES = (0.38, 0.20, 0.12, 0.10, 0.06, 0.05, 0.09)
TERM_SHARES = (0.08, 0.17, 0.40, 0.10, 0.25)
PURPOSE_LOAN_SHARE = (0.30, 0.18, 0.30, 0.35, 0.12, 0.45, 0.15)  # principal as a share of income
SMALL_BUSINESS = PURPOSES.index("small_business")
DRIFT_INCOME_FACTOR = 0.6
DRIFT_SMALL_BUSINESS_SHARE = 0.30
DRIFTED_FIELDS = ("annual_income", "purpose")


@dataclass(frozen=True)
class Population:
    """The distribution applicants are drawn from; ``drifted()`` returns the shifted one."""

    income_factor: float = 1.0
    small_business_share: float = PURPOSE_SHARES[SMALL_BUSINESS]

    def drifted(self) -> Population:
        return replace(self, income_factor=DRIFT_INCOME_FACTOR, small_business_share=DRIFT_SMALL_BUSINESS_SHARE)

    def application(self, rng: random.Random) -> Body:
        """One applicant: the baseline draw, then this population's shifts (same draws either way)."""
        body = _baseline_applicant(rng)
        relabel = rng.random()  # drawn always, so baseline and drifted bodies stay in step
        if self.income_factor != 1.0:
            body["annual_income"] = float(round(body["annual_income"] * self.income_factor, -2))
        base = PURPOSE_SHARES[SMALL_BUSINESS]
        if self.small_business_share > base and relabel < (self.small_business_share - base) / (1.0 - base):
            body["purpose"] = PURPOSES[SMALL_BUSINESS]  # the loan itself (amount, term) is unchanged
        return body

    def batch(self, rng: random.Random, rows: int) -> Body:
        """A ``/predict/batch`` body of ``rows`` applicants."""
        return {"instances": [self.application(rng) for _ in range(rows)]}


def _baseline_applicant(rng: random.Random) -> Body:
    """One row of the training data's generating process, in plain ``random`` (no numpy)."""
    age = _clip_int(rng.gauss(40.0, 11.5), 18, 80)
    adult_years = age - 18
    employment = round(min(rng.gammavariate(1.8, 3.2), adult_years, 60.0), 1)
    tilt = (age - 40.0) / 12.0  # older applicants own or have a mortgage more often
    home_logits = (0.4 - 0.6 * tilt, -1.2 + 0.5 * tilt, 0.2 + 0.5 * tilt, -2.0)
    home = rng.choices(range(len(HOME_OWNERSHIP)), [math.exp(x) for x in home_logits])[0]
    mortgage = HOME_OWNERSHIP[home] == "MORTGAGE"
    log_income = math.log(48_000.0) + 0.025 * min(employment, 25.0) + 0.15 * mortgage
    income = round(_clip(rng.lognormvariate(log_income, 0.5), 8_000.0, 1_500_000.0), -2)
    purpose = rng.choices(range(len(PURPOSES)), PURPOSE_SHARES)[0]
    principal = income * PURPOSE_LOAN_SHARE[purpose] * rng.lognormvariate(0.0, 0.45)
    history = min(round(adult_years * 12.0 * rng.betavariate(4.0, 2.0)), 900)
    trait = rng.gauss(0.0, 1.0)  # unobserved: payment discipline, volatility, luck
    return {
        "age": age,
        "annual_income": float(income),
        "loan_amount": float(round(_clip(principal, 1_000.0, 150_000.0) / 50.0) * 50),
        "loan_term_months": rng.choices(LOAN_TERMS, TERM_SHARES)[0],
        "employment_years": float(employment),
        "credit_history_months": history,
        "open_accounts": min(_poisson(rng, 1.5 + history / 48.0), 40),
        "delinquencies_2y": min(_poisson(rng, 0.18 * math.exp(0.7 * trait)), 15),
        "debt_to_income": round(_clip(rng.gauss(17.0 + 2.0 * trait, 7.5), 0.0, 65.0), 1),
        "home_ownership": HOME_OWNERSHIP[home],
        "purpose": PURPOSES[purpose],
    }


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's multiplication method: fine for the small means drawn here (< 25)."""
    limit, k, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


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

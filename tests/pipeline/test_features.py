"""The vectorised feature pipeline against an independent, row-by-row reference."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.pipeline.features import FEATURE_NAMES, columns_from_records, engineer_features
from service.pipeline.vocabulary import HOME_OWNERSHIP, LOAN_TERMS, PURPOSES, RAW_FIELDS

EXAMPLE = {
    "age": 35,
    "annual_income": 55000.0,
    "loan_amount": 12000.0,
    "loan_term_months": 36,
    "employment_years": 4.5,
    "credit_history_months": 96,
    "open_accounts": 5,
    "delinquencies_2y": 0,
    "debt_to_income": 18.5,
    "home_ownership": "RENT",
    "purpose": "debt_consolidation",
}

# Valid rows as the request schema admits them, including extreme but legal values.
rows = st.fixed_dictionaries(
    {
        "age": st.integers(18, 100),
        "annual_income": st.floats(1e-3, 1e9),
        "loan_amount": st.floats(1e-3, 1e9),
        "loan_term_months": st.sampled_from(LOAN_TERMS),
        "employment_years": st.floats(0, 60),
        "credit_history_months": st.integers(0, 900),
        "open_accounts": st.integers(0, 100),
        "delinquencies_2y": st.integers(0, 50),
        "debt_to_income": st.floats(0, 100),
        "home_ownership": st.sampled_from(HOME_OWNERSHIP),
        "purpose": st.sampled_from(PURPOSES),
    }
)


def reference_features(row: Mapping[str, Any]) -> list[float]:
    """The feature definitions spelled out one row at a time, with the math module."""
    age, income, amount = float(row["age"]), float(row["annual_income"]), float(row["loan_amount"])
    term, dti = float(row["loan_term_months"]), float(row["debt_to_income"])
    employment, history = float(row["employment_years"]), float(row["credit_history_months"])
    rate = 0.10 / 12
    installment = amount * rate / (1 - (1 + rate) ** (-term))
    installment_to_income = min(installment / (income / 12), 100.0)
    values = [
        age,
        math.log(1 + income),
        math.log(1 + amount),
        term,
        employment,
        history,
        float(row["open_accounts"]),
        float(row["delinquencies_2y"]),
        dti,
        min(amount / income, 100.0),
        installment_to_income,
        dti / 100 + installment_to_income,
        (history / 12) / age,
        employment / age,
        1.0 if row["delinquencies_2y"] > 0 else 0.0,
        1.0 if age < 25 else 0.0,
        1.0 if employment < 1 else 0.0,
    ]
    values += [1.0 if row["home_ownership"] == c else 0.0 for c in HOME_OWNERSHIP]
    values += [1.0 if row["purpose"] == p else 0.0 for p in PURPOSES]
    return values


def test_feature_names_are_28_unique_in_contract_order() -> None:
    assert len(FEATURE_NAMES) == 28
    assert len(set(FEATURE_NAMES)) == 28
    assert FEATURE_NAMES[:3] == ("age", "log_annual_income", "log_loan_amount")
    assert FEATURE_NAMES[-11:] == tuple(f"home_ownership_{c.lower()}" for c in HOME_OWNERSHIP) + tuple(
        f"purpose_{p}" for p in PURPOSES
    )


def test_example_request_features() -> None:
    features = engineer_features(columns_from_records([EXAMPLE]))
    by_name = dict(zip(FEATURE_NAMES, features[0].tolist(), strict=True))
    assert by_name["loan_to_income"] == pytest.approx(12000 / 55000, rel=1e-6)
    # 12000 over 36 months at 10 % APR is 387.21 a month; monthly income is 4583.33.
    assert by_name["installment_to_income"] == pytest.approx(387.2059 / 4583.3333, rel=1e-5)
    assert by_name["home_ownership_rent"] == 1.0 and by_name["purpose_debt_consolidation"] == 1.0
    assert sum(features[0, 17:].tolist()) == 2.0


@pytest.mark.parametrize("n", [1, 64, 65, 300])  # both sides of the one-hot strategy switch
def test_output_is_c_contiguous_float32_n_by_28(n: int) -> None:
    features = engineer_features(columns_from_records([EXAMPLE] * n))
    assert features.shape == (n, 28)
    assert features.dtype == np.float32
    assert features.flags.c_contiguous


@settings(max_examples=60, deadline=None)
@given(st.lists(rows, min_size=1, max_size=90))
def test_matches_row_by_row_reference(batch: list[dict[str, Any]]) -> None:
    features = engineer_features(columns_from_records(batch))
    expected = np.array([reference_features(r) for r in batch], dtype=np.float64)
    assert np.isfinite(features).all()
    np.testing.assert_allclose(features, expected, rtol=1e-6, atol=1e-9)


def test_one_hot_blocks_mark_exactly_the_row_category() -> None:
    batch = [{**EXAMPLE, "home_ownership": HOME_OWNERSHIP[i % 4], "purpose": PURPOSES[i % 7]} for i in range(100)]
    for n in (28, 100):  # small batches broadcast, large ones compare per category
        features = engineer_features(columns_from_records(batch[:n]))
        home, purpose = features[:, 17:21], features[:, 21:28]
        assert (home.sum(axis=1) == 1).all() and (purpose.sum(axis=1) == 1).all()
        assert home.argmax(axis=1).tolist() == [i % 4 for i in range(n)]
        assert purpose.argmax(axis=1).tolist() == [i % 7 for i in range(n)]


def test_object_string_columns_give_the_same_features() -> None:
    batch = [{**EXAMPLE, "purpose": PURPOSES[i % 7]} for i in range(80)]
    columns = columns_from_records(batch)
    as_object = {k: (v.astype(object) if v.dtype.kind == "U" else v) for k, v in columns.items()}
    np.testing.assert_array_equal(engineer_features(as_object), engineer_features(columns))


def test_unknown_category_leaves_its_block_empty() -> None:
    features = engineer_features(columns_from_records([{**EXAMPLE, "purpose": "vacation"}]))
    assert features[0, 21:28].sum() == 0.0
    assert features[0, 17] == 1.0


def test_each_row_is_independent_of_the_batch() -> None:
    rng = np.random.default_rng(7)
    batch = [{**EXAMPLE, "annual_income": float(rng.lognormal(11, 0.6)), "age": int(rng.integers(18, 90))} for _ in range(20)]
    together = engineer_features(columns_from_records(batch))
    alone = np.vstack([engineer_features(columns_from_records([row])) for row in batch])
    np.testing.assert_array_equal(together, alone)


def test_columns_from_records_builds_every_raw_field() -> None:
    columns = columns_from_records([EXAMPLE, {**EXAMPLE, "age": 60}])
    assert set(columns) == set(RAW_FIELDS)
    assert columns["age"].dtype == np.float64 and columns["age"].tolist() == [35.0, 60.0]
    assert columns["purpose"].dtype.kind == "U"


def test_empty_batch_gives_empty_matrix() -> None:
    assert engineer_features(columns_from_records([])).shape == (0, 28)

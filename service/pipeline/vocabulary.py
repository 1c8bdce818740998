"""The request vocabulary shared by validation, feature engineering and training.

One place for the raw field names and the allowed categories, so the schema, the
feature pipeline and the training script can never disagree about them.
"""

from __future__ import annotations

from typing import Final

HOME_OWNERSHIP: Final = ("RENT", "OWN", "MORTGAGE", "OTHER")
PURPOSES: Final = (
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "medical",
    "small_business",
    "other",
)
LOAN_TERMS: Final = (12, 24, 36, 48, 60)

NUMERIC_FIELDS: Final = (
    "age",
    "annual_income",
    "loan_amount",
    "loan_term_months",
    "employment_years",
    "credit_history_months",
    "open_accounts",
    "delinquencies_2y",
    "debt_to_income",
)
CATEGORICAL_FIELDS: Final = ("home_ownership", "purpose")
RAW_FIELDS: Final = NUMERIC_FIELDS + CATEGORICAL_FIELDS

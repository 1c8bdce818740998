"""The request contract: one loan application, and a batch of them.

Rows are ``TypedDict``s rather than models: pydantic validates them as fast as models but hands
back plain dicts, which is what the vectorised feature pipeline consumes. Validation is strict
(a string is never a number, a bool is never an int), extra fields are rejected, and NaN or
infinite floats are refused so a bad number can never become a silent NaN prediction.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict

from service.pipeline.vocabulary import HOME_OWNERSHIP, LOAN_TERMS, PURPOSES

_ROW_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, title="LoanApplication")


@with_config(_ROW_CONFIG)
class LoanApplication(TypedDict):
    """One applicant, as posted to ``/predict`` and ``/predict_proba``."""

    age: Annotated[int, Field(ge=18, le=100, description="Applicant age in years.")]
    annual_income: Annotated[float, Field(gt=0, description="Gross annual income.")]
    loan_amount: Annotated[float, Field(gt=0, description="Requested principal.")]
    # Why the ignores on Literal[TUPLE] (three fields): pydantic expands the vocabulary tuple into its members,
    # a type checker accepts only literal values there.
    loan_term_months: Annotated[Literal[LOAN_TERMS], Field(description="Loan term.")]  # type: ignore[valid-type]
    employment_years: Annotated[float, Field(ge=0, le=60)]
    credit_history_months: Annotated[int, Field(ge=0, le=900)]
    open_accounts: Annotated[int, Field(ge=0, le=100)]
    delinquencies_2y: Annotated[int, Field(ge=0, le=50)]
    debt_to_income: Annotated[float, Field(ge=0, le=100, description="Debt-to-income ratio, percent.")]
    home_ownership: Literal[HOME_OWNERSHIP]  # type: ignore[valid-type]
    purpose: Literal[PURPOSES]  # type: ignore[valid-type]  # one vocabulary for schema, features and training


EXAMPLE_APPLICATION: LoanApplication = {
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


def batch_schema(max_batch_size: int) -> Any:
    """The ``/predict/batch`` body type; its row limit is a setting, so it is built at startup."""

    @with_config(ConfigDict(extra="forbid", strict=True, title="BatchRequest"))
    class BatchRequest(TypedDict):
        instances: Annotated[list[LoanApplication], Field(min_length=1, max_length=max_batch_size)]

    return BatchRequest


def row_adapter() -> TypeAdapter[LoanApplication]:
    return TypeAdapter(LoanApplication)


def batch_adapter(max_batch_size: int) -> TypeAdapter[Any]:
    return TypeAdapter(batch_schema(max_batch_size))

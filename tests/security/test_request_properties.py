"""Property-based tests over the request schema: a client mistake is always a clear 4xx, never a 5xx.

* any valid applicant (every field anywhere in its documented range) is scored: 200, a class and a
  probability in [0, 1];
* any JSON value, and any byte string, as a body: always 400 or 422 (neither can form a valid
  request), with ``detail`` entries that name the place (``loc``) and the rule (``type``), never the
  rejected value, and stay small;
* one mutation of a valid body (a field dropped, an extra field, a field replaced by any JSON
  value), in a single row or inside a batch: either still valid (200) or a 422 that names exactly
  the mutated field;
* any Content-Type: application/json (any case, any parameters) is scored, anything else is 415.

The app is the real one (``tests.conftest.build_client``), shared by the examples of a module;
after each property the service still answers a valid request.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.api.schemas import EXAMPLE_APPLICATION
from service.config import Settings
from tests.conftest import build_client

FIELDS = tuple(EXAMPLE_APPLICATION)
MAX_BATCH = 8
MAX_ERROR_BODY = 8192  # bytes: errors are capped and never echo values, whatever was sent
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON_HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    test_client, _ = build_client(Settings.from_env({}, max_batch_size=MAX_BATCH, profile_sample_rate=0.0))
    with test_client:
        yield test_client
        assert test_client.post("/predict", json=EXAMPLE_APPLICATION).status_code == 200, "the service stopped serving"


def _finite(low: float | None, high: float | None, exclude_low: bool = False) -> st.SearchStrategy[float]:
    return st.floats(min_value=low, max_value=high, exclude_min=exclude_low, allow_nan=False, allow_infinity=False)


valid_rows = st.fixed_dictionaries(
    {
        "age": st.integers(18, 100),
        "annual_income": _finite(0.0, None, exclude_low=True),
        "loan_amount": _finite(0.0, None, exclude_low=True),
        "loan_term_months": st.sampled_from([12, 24, 36, 48, 60]),
        "employment_years": _finite(0.0, 60.0),
        "credit_history_months": st.integers(0, 900),
        "open_accounts": st.integers(0, 100),
        "delinquencies_2y": st.integers(0, 50),
        "debt_to_income": _finite(0.0, 100.0),
        "home_ownership": st.sampled_from(["RENT", "OWN", "MORTGAGE", "OTHER"]),
        "purpose": st.sampled_from(
            ["debt_consolidation", "credit_card", "home_improvement", "car", "medical", "small_business", "other"]
        ),
    }
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=25,
)


def _assert_clear_4xx(response: Any, statuses: tuple[int, ...] = (400, 422)) -> list[dict[str, Any]]:
    assert response.status_code in statuses, f"{response.status_code}: {response.text[:300]}"
    assert len(response.content) <= MAX_ERROR_BODY, f"{len(response.content)}-byte error answer"
    errors = response.json()["detail"]
    assert isinstance(errors, list) and errors
    for error in errors:
        assert isinstance(error["loc"], list) and error["loc"][0] == "body", error
        assert isinstance(error["type"], str) and error["type"], error
        assert isinstance(error["msg"], str) and error["msg"], error
        assert "input" not in error, "the rejected value is never echoed"
    return errors


def _assert_scored(response: Any, rows: int | None = None) -> None:
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    predictions = body["predictions"] if rows is not None else [body]
    assert rows is None or len(predictions) == rows
    for prediction in predictions:
        assert prediction["prediction"] in (0, 1)
        assert 0.0 <= prediction["probability"] <= 1.0 and math.isfinite(prediction["probability"])


@PROPERTY
@given(row=valid_rows)
def test_any_valid_applicant_is_scored(client: TestClient, row: dict[str, Any]) -> None:
    _assert_scored(client.post("/predict", json=row))
    proba = client.post("/predict_proba", json=row)
    assert proba.status_code == 200
    probabilities = proba.json()["probabilities"]
    assert math.isclose(probabilities["no_default"] + probabilities["default"], 1.0, abs_tol=1e-6)


@PROPERTY
@given(rows=st.lists(valid_rows, min_size=1, max_size=MAX_BATCH))
def test_any_valid_batch_is_scored_row_for_row(client: TestClient, rows: list[dict[str, Any]]) -> None:
    _assert_scored(client.post("/predict/batch", json={"instances": rows}), rows=len(rows))


# Neither strategy below can produce a valid request: an applicant has 11 required fields, and
# json_values' objects hold at most 5 keys (random bytes do not spell one either). So every answer,
# 200 included, is checked: it must be a clear 4xx.


@PROPERTY
@given(value=json_values, path=st.sampled_from(["/predict", "/predict_proba", "/predict/batch"]))
def test_any_json_value_is_a_clear_4xx(client: TestClient, value: Any, path: str) -> None:
    response = client.post(path, content=json.dumps(value), headers=JSON_HEADERS)  # NaN/Infinity tokens included
    _assert_clear_4xx(response)


@PROPERTY
@given(body=st.binary(max_size=2048), path=st.sampled_from(["/predict", "/predict/batch"]))
def test_any_bytes_are_a_clear_4xx(client: TestClient, body: bytes, path: str) -> None:
    response = client.post(path, content=body, headers=JSON_HEADERS)
    _assert_clear_4xx(response)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
    """A valid row with one mutation; returns the row, the field touched and the mutation kind."""
    row = dict(draw(valid_rows))
    kind = draw(st.sampled_from(["drop", "extra", "replace"]))
    if kind == "drop":
        field = draw(st.sampled_from(FIELDS))
        del row[field]
    elif kind == "extra":
        field = draw(st.text(min_size=1, max_size=30).filter(lambda name: name not in FIELDS))
        row[field] = draw(json_values)
    else:
        field = draw(st.sampled_from(FIELDS))
        row[field] = draw(json_values)
    return row, field, kind


RULE_OF = {"drop": {"missing"}, "extra": {"extra_forbidden"}}


@PROPERTY
@given(case=mutated(), batch_index=st.none() | st.integers(0, MAX_BATCH - 1))
def test_one_mutation_is_still_valid_or_names_exactly_that_field(
    client: TestClient, case: tuple[dict[str, Any], str, str], batch_index: int | None
) -> None:
    row, field, kind = case
    if batch_index is None:
        response, prefix = client.post("/predict", content=json.dumps(row), headers=JSON_HEADERS), ["body"]
    else:
        instances = [dict(EXAMPLE_APPLICATION)] * batch_index + [row]
        body = json.dumps({"instances": instances})
        response, prefix = client.post("/predict/batch", content=body, headers=JSON_HEADERS), ["body", "instances", batch_index]
    if response.status_code == 200:
        assert kind == "replace", f"a {kind} mutation of {field!r} was accepted"
        _assert_scored(response, rows=None if batch_index is None else batch_index + 1)
        return
    errors = _assert_clear_4xx(response, statuses=(422,))
    for error in errors:
        assert error["loc"][: len(prefix) + 1] == [*prefix, field], (
            f"mutated {field!r} ({kind}) but the error names {error['loc']}"
        )
    if kind in RULE_OF:
        assert {e["type"] for e in errors} == RULE_OF[kind]


@PROPERTY
@given(
    media=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
    | st.sampled_from(["application/json", "APPLICATION/JSON", "Application/Json; charset=utf-8", "application/json;foo=bar"])
)
def test_content_type_other_than_json_is_415(client: TestClient, media: str) -> None:
    response = client.post("/predict", content=json.dumps(EXAMPLE_APPLICATION), headers={"content-type": media})
    is_json = media.split(";", 1)[0].strip().lower() == "application/json"
    if is_json:
        _assert_scored(response)
    else:
        assert response.status_code == 415, f"{media!r}: {response.status_code}"
        assert response.json()["detail"][0]["loc"] == ["header", "content-type"]

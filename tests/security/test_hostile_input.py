"""Hostile and malformed bodies, one by one: each gets a clear 4xx, and the service keeps serving.

Deep nesting, numbers too big for a double or for Python's int parser, strings for numbers, NUL
bytes, giant strings and keys, empty and oversized batches, bodies over ``MAX_BODY_BYTES`` (with
and without a Content-Length), wrong content types, invalid UTF-8, and bodies built to produce
thousands of validation errors. After every case a valid request must still be scored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.schemas import EXAMPLE_APPLICATION
from service.api.validation import MAX_LOC_CHARS, MAX_REPORTED_ERRORS
from service.config import Settings
from tests.conftest import build_client

JSON_HEADERS = {"content-type": "application/json"}
MAX_BATCH = 50
BODY_LIMIT = 1_048_576  # the default MAX_BODY_BYTES


def _body(**change: Any) -> str:
    return json.dumps({**EXAMPLE_APPLICATION, **change})


def _raw(old: str, new: str) -> bytes:
    """The example body with one literal token replaced (for what json.dumps cannot write)."""
    text = json.dumps(EXAMPLE_APPLICATION)
    assert old in text
    return text.replace(old, new, 1).encode()


def _batch(row: str | bytes) -> bytes:
    row_bytes = row.encode() if isinstance(row, str) else row
    return b'{"instances": [' + row_bytes + b"]}"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    test_client, _ = build_client(Settings.from_env({}, max_batch_size=MAX_BATCH, profile_sample_rate=0.0))
    with test_client:
        yield test_client


def _still_serving(client: TestClient) -> None:
    response = client.post("/predict", json=EXAMPLE_APPLICATION)
    assert response.status_code == 200 and response.json()["prediction"] in (0, 1)


def _errors(response: Any, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, f"{response.status_code}: {response.text[:300]}"
    errors = response.json()["detail"]
    assert errors and all({"loc", "type", "msg"} <= set(e) and "input" not in e for e in errors), errors
    return errors


# (name, body, status, expected (loc, type) of the first error; loc relative to the row for batch variants)
CASES: list[tuple[str, bytes | str, int, tuple[list[Any], str]]] = [
    ("nested arrays 100k deep", "[" * 100_000 + "]" * 100_000, 400, ([], "json_invalid")),
    ("nested objects 50k deep", '{"a":' * 50_000 + "1" + "}" * 50_000, 400, ([], "json_invalid")),
    ("deep nesting inside a field", _raw('"RENT"', "[" * 5000 + "]" * 5000), 400, ([], "json_invalid")),
    ("1e400 for a float", _raw("55000.0", "1e400"), 422, (["annual_income"], "finite_number")),
    ("-1e400 for a float", _raw("12000.0", "-1e400"), 422, (["loan_amount"], "finite_number")),
    ("10**400 literal for an int", _raw('"age": 35', '"age": ' + str(10**400)), 422, (["age"], "less_than_equal")),
    ("10**400 literal for a float", _raw("55000.0", str(10**400)), 422, (["annual_income"], "finite_number")),
    ("10**5000 literal (past the int parser)", _raw('"age": 35', '"age": 1' + "0" * 5000), 400, ([], "json_invalid")),
    ("1e-400 underflows to 0", _raw("55000.0", "1e-400"), 422, (["annual_income"], "greater_than")),
    ("NaN token", _raw("18.5", "NaN"), 422, (["debt_to_income"], "finite_number")),
    ("string for an int", _body(age="35"), 422, (["age"], "int_type")),
    ("string for a float", _body(annual_income="55000"), 422, (["annual_income"], "float_type")),
    ("integral float for an int (strict typing)", _body(age=20.0), 422, (["age"], "int_type")),
    ("bool for an int", _body(open_accounts=True), 422, (["open_accounts"], "int_type")),
    ("escaped NUL in a category", _body(purpose="car\u0000"), 422, (["purpose"], "literal_error")),
    ("raw NUL byte inside a string", _raw('"RENT"', '"RE\x00NT"'), 400, ([], "json_invalid")),
    ("giant string value", _body(purpose="x" * 900_000), 422, (["purpose"], "literal_error")),
    (
        "invalid UTF-8 in a value",
        json.dumps(EXAMPLE_APPLICATION).encode().replace(b"RENT", b"RE\xff\xfeNT"),
        400,
        ([], "json_invalid"),
    ),
    ("UTF-16 encoded body", json.dumps(EXAMPLE_APPLICATION).encode("utf-16"), 400, ([], "json_invalid")),
    ("lone surrogate escape", _raw('"RENT"', '"\\ud800"'), 400, ([], "json_invalid")),
]


@pytest.mark.parametrize(("name", "body", "status", "expected"), CASES, ids=[case[0] for case in CASES])
def test_hostile_row_is_a_clear_4xx(
    client: TestClient, name: str, body: bytes | str, status: int, expected: tuple[list[Any], str]
) -> None:
    loc, rule = expected
    for path, payload, prefix in (("/predict", body, ["body"]), ("/predict/batch", _batch(body), ["body", "instances", 0])):
        if path == "/predict/batch" and not loc:  # a body-level failure stays at the body, not the row
            prefix = ["body"]
        errors = _errors(client.post(path, content=payload, headers=JSON_HEADERS), status)
        assert errors[0]["loc"] == [*prefix, *loc] and errors[0]["type"] == rule, (path, errors[0])
        _still_serving(client)


@pytest.mark.parametrize(
    ("body", "status", "rule"),
    [
        (b"", 400, "json_invalid"),
        (b"\x00" * 64, 400, "json_invalid"),
        (b"[1, 2, 3]", 422, "dict_type"),
        (b"null", 422, "dict_type"),
    ],
    ids=["empty", "NUL bytes only", "array", "null"],
)
@pytest.mark.parametrize("path", ["/predict", "/predict_proba", "/predict/batch"])
def test_whole_body_wrong_is_a_clear_4xx(client: TestClient, path: str, body: bytes, status: int, rule: str) -> None:
    errors = _errors(client.post(path, content=body, headers=JSON_HEADERS), status)
    assert errors[0]["loc"] == ["body"] and errors[0]["type"] == rule
    _still_serving(client)


def test_giant_key_is_named_but_shortened(client: TestClient) -> None:
    key = "k" * 900_000
    response = client.post("/predict", content=_body(**{key: 1}), headers=JSON_HEADERS)
    errors = _errors(response, 422)
    assert errors[0]["type"] == "extra_forbidden"
    assert errors[0]["loc"] == ["body", "k" * MAX_LOC_CHARS + "…"]
    assert len(response.content) < 1024, "a 900 kB key came back in the error"
    _still_serving(client)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("50 000 extra keys", _body(**{f"k{i}": i for i in range(50_000)})),
        ("a full batch of empty rows", json.dumps({"instances": [{}] * MAX_BATCH})),
    ],
)
def test_thousands_of_errors_are_capped(client: TestClient, name: str, body: str) -> None:
    path = "/predict/batch" if body.startswith('{"instances"') else "/predict"
    response = client.post(path, content=body, headers=JSON_HEADERS)
    errors = _errors(response, 422)
    assert len(errors) == MAX_REPORTED_ERRORS + 1
    assert errors[-1]["type"] == "too_many_errors" and errors[-1]["loc"] == ["body"]
    assert len(response.content) < 8192
    _still_serving(client)


def test_empty_and_oversized_batches(client: TestClient) -> None:
    errors = _errors(client.post("/predict/batch", json={"instances": []}), 422)
    assert errors[0]["loc"] == ["body", "instances"] and errors[0]["type"] == "too_short"
    errors = _errors(client.post("/predict/batch", json={"instances": [EXAMPLE_APPLICATION] * (MAX_BATCH + 1)}), 422)
    assert errors[0]["loc"] == ["body", "instances"] and errors[0]["type"] == "too_long"
    errors = _errors(client.post("/predict/batch", json={"instances": None}), 422)
    assert errors[0]["loc"] == ["body", "instances"]
    _still_serving(client)


def test_body_over_the_limit_is_413_with_or_without_content_length(client: TestClient) -> None:
    big = b'{"instances": [' + b" " * BODY_LIMIT + b"]}"
    chunks = iter([big[i : i + 65536] for i in range(0, len(big), 65536)])  # no Content-Length: enforced while streaming
    for content in (big, chunks):
        (error,) = _errors(client.post("/predict/batch", content=content, headers=JSON_HEADERS), 413)
        assert error["loc"] == ["body"] and error["type"] == "body_too_large"
        assert f"MAX_BODY_BYTES ({BODY_LIMIT} bytes)" in error["msg"]
    _still_serving(client)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/xml",
        "",
    ],
)
def test_wrong_content_type_is_415_naming_the_header(client: TestClient, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/predict", content=json.dumps(EXAMPLE_APPLICATION).encode(), headers=headers)
    errors = _errors(response, 415)
    assert errors[0]["loc"] == ["header", "content-type"] and errors[0]["type"] == "content_type"
    _still_serving(client)

"""No feature values, request bodies, API keys or headers in spans, logs or metric attributes.

Requests carry canaries: distinctive feature values, an API key (right and wrong), custom headers,
a cookie, an Authorization header, a query string, and an invalid category value. Then every
exported item is searched: span names, attributes, events, status and resource; log record bodies
and attributes (``REQUEST_LOG=all``, so every request leaves a record); metric data point and
exemplar attributes; and the JSON stdout log. By default no canary appears anywhere. With
``RECORD_FEATURE_VALUES=true`` the feature values appear exactly where docs/telemetry.md says (the
validation span's ``ml.feature.*`` attributes) and still nowhere else; secrets never.

Integer features are not canaries: a small integer is indistinguishable from a line number. The
test client's own ``httpx`` logger (it logs each URL it calls) is quietened: it is not the service's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from service.config import Settings
from tests.conftest import Captured, build_client

ROW = {
    "age": 47,
    "annual_income": 73519.371,
    "loan_amount": 12345.679,
    "loan_term_months": 48,
    "employment_years": 13.2571,
    "credit_history_months": 287,
    "open_accounts": 9,
    "delinquencies_2y": 1,
    "debt_to_income": 27.7731,
    "home_ownership": "MORTGAGE",
    "purpose": "small_business",
}
FEATURE_CANARIES = {
    "annual_income": "73519.371",
    "loan_amount": "12345.679",
    "employment_years": "13.2571",
    "debt_to_income": "27.7731",
}
API_KEY, WRONG_KEY = "sk-canary-key-91d2", "sk-canary-wrong-44c7"
HEADERS = {
    "X-Canary": "hdr-canary-5521",
    "User-Agent": "ua-canary-8812",
    "Cookie": "session=cookie-canary-7731",
    "Authorization": "Bearer authz-canary-3345",
}
SECRET_CANARIES = (
    API_KEY,
    WRONG_KEY,
    *HEADERS.values(),
    "cookie-canary-7731",
    "authz-canary-3345",
    "qs-canary-6610",
    "purpose-canary-2290",
)


def _send_canaries(client: Any) -> None:
    keyed = {**HEADERS, "X-API-Key": API_KEY}
    assert client.post("/predict?token=qs-canary-6610", json=ROW, headers=keyed).status_code == 200
    assert client.post("/predict_proba", json=ROW, headers=keyed).status_code == 200
    assert client.post("/predict/batch", json={"instances": [ROW, ROW]}, headers=keyed).status_code == 200
    bad = {**ROW, "purpose": "purpose-canary-2290"}
    assert client.post("/predict", json=bad, headers=keyed).status_code == 422
    assert client.post("/predict", json=ROW, headers={**HEADERS, "X-API-Key": WRONG_KEY}).status_code == 401
    assert client.post("/predict", json=ROW, headers=HEADERS).status_code == 401
    assert client.get("/model", headers=keyed).status_code == 200


def _flat(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [item for element in value for item in _flat(element)]
    return [str(value)]


def _exported(captured: Captured) -> list[tuple[str, str, str]]:
    """Every exported string as (where, key, value): spans, events, logs, metric and exemplar attributes."""
    found: list[tuple[str, str, str]] = []

    def add(where: str, attributes: Any) -> None:
        for key, value in dict(attributes or {}).items():
            found.extend((where, str(key), text) for text in _flat(value))

    for span in captured.finished_spans():
        where = f"span {span.name}"
        found.append((where, "name", span.name))
        found.append((where, "status", str(span.status.description)))
        add(where, span.attributes)
        add(f"{where} resource", span.resource.attributes)
        for event in span.events:
            found.append((f"{where} event", "name", event.name))
            add(f"{where} event {event.name}", event.attributes)
    for record in captured.logs.get_finished_logs():
        log = record.log_record
        found.append(("log", "body", str(log.body)))
        add("log", log.attributes)
    data = captured.metrics.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                for point in metric.data.data_points:
                    add(f"metric {metric.name}", point.attributes)
                    for exemplar in getattr(point, "exemplars", None) or ():
                        add(f"metric {metric.name} exemplar", exemplar.filtered_attributes)
    return found


@pytest.fixture(params=[False, True], ids=["default", "record-feature-values"])
def observed(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[bool, list[tuple[str, str, str]], str]]:
    record_values: bool = request.param
    httpx_logger = logging.getLogger("httpx")
    level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)
    request.addfinalizer(lambda: httpx_logger.setLevel(level))
    env = {"API_KEYS": API_KEY, "REQUEST_LOG": "all", "LOG_FORMAT": "json", "RECORD_FEATURE_VALUES": str(record_values).lower()}
    client, captured = build_client(
        Settings.from_env(env, profile_sample_rate=1.0, fault_slow_feature_ms=20.0)
    )  # hot-function events too
    with client:
        _send_canaries(client)
    found = _exported(captured)
    assert any(where == "log" for where, _, _ in found) and any(where.startswith("metric") for where, _, _ in found)
    assert any("event profile.hot_function" in where for where, _, _ in found), "profiler events were not exercised"
    yield record_values, found, capsys.readouterr().out


def test_secrets_and_headers_appear_nowhere(observed: tuple[bool, list[tuple[str, str, str]], str]) -> None:
    _, found, stdout = observed
    for canary in SECRET_CANARIES:
        leaks = [(where, key) for where, key, value in found if canary in value or canary in key]
        assert not leaks, f"{canary!r} leaked into {leaks}"
        assert canary not in stdout, f"{canary!r} leaked into the stdout log"


def test_feature_values_appear_only_where_documented(observed: tuple[bool, list[tuple[str, str, str]], str]) -> None:
    record_values, found, stdout = observed
    for field, canary in FEATURE_CANARIES.items():
        places = {(where, key) for where, key, value in found if canary in value}
        if record_values:
            assert places == {("span validation", f"ml.feature.{field}")}, f"{field}: {places}"
        else:
            assert not places, f"{field}={canary} leaked into {places}"
        assert canary not in stdout, f"{field}={canary} leaked into the stdout log"
    if not record_values:
        assert not [key for _, key, _ in found if key.startswith("ml.feature.")]


def test_validation_failures_name_fields_and_rules_not_values(observed: tuple[bool, list[tuple[str, str, str]], str]) -> None:
    _, found, _ = observed
    fields = [value for where, key, value in found if key == "ml.validation.fields"]
    rules = [value for where, key, value in found if key == "ml.validation.rules"]
    assert fields == ["body.purpose"] and rules == ["literal_error"]
    assert json.dumps(found).count("purpose-canary") == 0

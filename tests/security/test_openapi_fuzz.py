"""schemathesis against the service's own OpenAPI document, in process (ASGI), with all its checks.

Every operation in ``/openapi.json`` gets schema-valid and schema-invalid requests (bodies,
headers, content types); schemathesis checks no 5xx, status codes and content types as
documented, valid data accepted and invalid data rejected. Run twice: open, and with ``API_KEYS``
protecting ``/metrics`` and ``/model`` too (no key sent, so 401 must be documented everywhere).

One deliberate adaptation: the service types JSON strictly, so an integer field takes an integer
literal (``20``) and ``20.0`` is a 422 ``int_type`` (tests/security/test_hostile_input.py holds
that). JSON Schema's ``integer`` cannot say "no decimal point", so the body hook below sends
integral floats in integer fields as integer literals; everything else is schemathesis's own.
Bounded: ``MAX_EXAMPLES`` per operation keeps both runs well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from service.config import Settings
from tests.conftest import build_client

MAX_EXAMPLES = 100
CONFIGS = {
    "open": {},
    "guarded": {"API_KEYS": "fuzz-key", "API_KEY_PROTECTS_METRICS": "true", "API_KEY_PROTECTS_MODEL": "true"},
}


def _integer_fields(document: dict[str, Any]) -> frozenset[str]:
    properties = document["components"]["schemas"]["LoanApplication"]["properties"]
    return frozenset(
        name
        for name, prop in properties.items()
        if prop.get("type") == "integer" or ("enum" in prop and all(isinstance(v, int) for v in prop["enum"]))
    )


def _fuzzable(config: str) -> tuple[Any, Any]:
    """The app (lifespan entered by the fixture below) and its schema with the integer-literal body hook."""
    client, _ = build_client(Settings.from_env(CONFIGS[config], max_batch_size=20, profile_sample_rate=0.0))
    api = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    integers = _integer_fields(client.app.openapi())

    def as_literals(row: Any) -> Any:
        if not isinstance(row, dict):
            return row
        return {k: int(v) if k in integers and isinstance(v, float) and v.is_integer() else v for k, v in row.items()}

    def map_body(context: Any, body: Any) -> Any:
        if isinstance(body, dict) and isinstance(body.get("instances"), list):
            return {**body, "instances": [as_literals(row) for row in body["instances"]]}
        return as_literals(body)

    api.hook(map_body)
    return client, api


open_client, open_schema = _fuzzable("open")
guarded_client, guarded_schema = _fuzzable("guarded")


@pytest.fixture(scope="module", autouse=True)
def _model_loaded() -> Iterator[None]:
    """Run both apps' lifespans, so valid bodies are really scored (not 503)."""
    with open_client, guarded_client:
        yield


@open_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_open_service_conforms_and_never_5xx(case: Any) -> None:
    case.call_and_validate()


@guarded_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_keyed_service_without_a_key_conforms_and_never_5xx(case: Any) -> None:
    response = case.call_and_validate()
    documented_method = case.method.upper() == case.operation.method.upper()
    if documented_method and case.path not in ("/health/live", "/health/ready"):
        assert response.status_code == 401, f"{case.method} {case.path} answered {response.status_code} without a key"

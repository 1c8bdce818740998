"""API-key review: constant-time comparison, a clear 401, failures counted never logged, the right routes guarded.

(tests/service/test_auth.py holds the basics; this adds what a security review asks for.)
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import pytest

from service.api import auth
from service.api.schemas import EXAMPLE_APPLICATION
from service.config import Settings
from tests.conftest import build_client

KEYS = ("first-key-0a1b", "second-key-2c3d", "third-key-4e5f")
WRONG = "wrong-key-canary-6a7b"


def _guarded(**extra: str) -> Any:
    return build_client(Settings.from_env({"API_KEYS": ",".join(KEYS), **extra}, profile_sample_rate=0.0))


def test_every_configured_key_is_compared_in_constant_time_whatever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: the work done does not depend on which key (if any) matched."""
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    client, _ = _guarded()
    with client:
        for presented, status in ((KEYS[0], 200), (KEYS[2], 200), (WRONG, 401), ("", 401)):
            calls.clear()
            response = client.post("/predict", json=EXAMPLE_APPLICATION, headers={"X-API-Key": presented})
            assert response.status_code == status
            assert [key for _, key in calls] == [k.encode() for k in KEYS], f"{presented!r}: compared {len(calls)} keys"


@pytest.mark.parametrize(
    ("headers", "reason"), [({}, "missing"), ({"X-API-Key": WRONG}, "invalid"), ({"X-API-Key": ""}, "invalid")]
)
def test_401_says_what_is_wrong_and_which_header_without_echoing(headers: dict[str, str], reason: str) -> None:
    client, _ = _guarded()
    with client:
        response = client.post("/predict", json=EXAMPLE_APPLICATION, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error_type"] == "unauthorized"
    assert body["detail"].startswith(f"{reason} API key") and "X-API-Key" in body["detail"]
    assert WRONG not in response.text and not any(key in response.text for key in KEYS)


def test_key_is_checked_before_the_body_is_read() -> None:
    """An unauthenticated client learns nothing about validation: malformed JSON without a key is 401, not 400."""
    client, _ = _guarded()
    with client:
        assert client.post("/predict", content=b"{not json", headers={"content-type": "application/json"}).status_code == 401
        assert client.post("/predict", content=b"x", headers={"content-type": "text/plain"}).status_code == 401


def test_undecodable_key_bytes_are_a_401_not_a_500() -> None:
    client, _ = _guarded()
    with client:
        for raw in (b"\xff\xfe\x00", "ключ".encode(), b"x" * 8000):
            response = client.post("/predict", json=EXAMPLE_APPLICATION, headers=[(b"x-api-key", raw)])
            assert response.status_code == 401, raw[:20]
        assert client.post("/predict", json=EXAMPLE_APPLICATION, headers={"X-API-Key": KEYS[1]}).status_code == 200


def test_failures_counted_by_reason_and_the_key_is_in_no_log_span_or_metric(capsys: pytest.CaptureFixture[str]) -> None:
    client, captured = build_client(
        Settings.from_env({"API_KEYS": ",".join(KEYS), "REQUEST_LOG": "all", "LOG_FORMAT": "json"}, profile_sample_rate=0.0)
    )
    with client:
        client.post("/predict", json=EXAMPLE_APPLICATION)
        for _ in range(3):
            client.post("/predict", json=EXAMPLE_APPLICATION, headers={"X-API-Key": WRONG})
        client.post("/predict", json=EXAMPLE_APPLICATION, headers={"X-API-Key": KEYS[0]})
        exposition = client.get("/metrics").text
    counted = {p.attributes["error.type"]: p.value for p in captured.metric_points("ml.auth.failures")}
    assert counted == {"missing_api_key": 1, "invalid_api_key": 3}
    assert 'ml_auth_failures_total{error_type="invalid_api_key"' in exposition
    records = captured.logs.get_finished_logs()
    assert sum(1 for r in records if (r.log_record.attributes or {}).get("http.response.status_code") == 401) == 4, (
        "each 401 is logged"
    )
    everything = json.dumps(
        [dict(s.attributes or {}) | {"events": [dict(e.attributes or {}) for e in s.events]} for s in captured.finished_spans()]
        + [dict(r.log_record.attributes or {}) | {"body": str(r.log_record.body)} for r in records],
        default=str,
    )
    stdout = capsys.readouterr().out
    assert stdout.count('"http.response.status_code":401') == 4, "the stdout request log was not captured"
    for secret in (WRONG, *KEYS):
        assert secret not in everything and secret not in exposition and secret not in stdout, secret


@pytest.mark.parametrize("protect_metrics", [False, True])
@pytest.mark.parametrize("protect_model", [False, True])
def test_health_always_open_metrics_and_model_as_configured(protect_metrics: bool, protect_model: bool) -> None:
    client, _ = _guarded(API_KEY_PROTECTS_METRICS=str(protect_metrics).lower(), API_KEY_PROTECTS_MODEL=str(protect_model).lower())
    with client:
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").status_code == 200
        assert client.get("/metrics").status_code == (401 if protect_metrics else 200)
        assert client.get("/model").status_code == (401 if protect_model else 200)
        key = {"X-API-Key": KEYS[1]}
        assert client.get("/metrics", headers=key).status_code == 200
        assert client.get("/model", headers=key).status_code == 200
        for path in ("/predict", "/predict_proba"):
            assert client.post(path, json=EXAMPLE_APPLICATION).status_code == 401
        assert client.post("/predict/batch", json={"instances": [EXAMPLE_APPLICATION]}).status_code == 401

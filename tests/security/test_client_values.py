"""What a client sends is only ever recorded as a bounded excerpt, and a forged parent is not continued.

* a baggage header over the W3C size (the SDK's propagator warns quoting it) and a huge value logged by
  any library: no stdout line and no exported log record carries more than a short excerpt;
* span attributes from the client (path, original method) are cut to ``CLIENT_ATTRIBUTE_MAX_CHARS``,
  and ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` still applies on top;
* two ``traceparent`` headers: the request starts a new trace (W3C Trace Context).
"""

from __future__ import annotations

import logging

import pytest

from otel.logs import MAX_ARG_CHARS
from service.api.schemas import EXAMPLE_APPLICATION
from service.config import Settings
from tests.conftest import build_client

CANARY = "tenant-canary-7781"
LONGEST_LINE = 2 * MAX_ARG_CHARS + 400  # an excerpt plus the line's own prefix and fields
PARENT_A = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
PARENT_B = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_no_log_line_quotes_a_client_value_whole(capsys: pytest.CaptureFixture[str]) -> None:
    client, captured = build_client(Settings.from_env({"REQUEST_LOG": "all", "LOG_FORMAT": "json"}, profile_sample_rate=0.0))
    baggage = "user=" + "u" * 20_000 + CANARY  # over the 8192 bytes the propagator accepts: it warns, quoting it
    with client:
        assert client.post("/predict", json=EXAMPLE_APPLICATION, headers={"baggage": baggage}).status_code == 200
        # Whoever logs a client's bytes (a library, a server) gets the same treatment.
        logging.getLogger("uvicorn.error").warning("rejected %s from %r", "p" * 50_000 + CANARY, b"b" * 50_000)
        logging.getLogger("service").error("no arguments: " + "m" * 50_000 + CANARY)
    out = capsys.readouterr().out
    assert "Baggage header" in out and "rejected pppp" in out, "the records under test were not logged"
    assert CANARY not in out
    assert max(len(line) for line in out.splitlines()) < LONGEST_LINE + 4096
    bodies = [str(r.log_record.body) for r in captured.logs.get_finished_logs()]
    assert any(body.startswith("rejected") for body in bodies)
    assert not [body[:80] for body in bodies if CANARY in body or len(body) > 4096 + 100]


def test_client_controlled_span_attributes_are_capped() -> None:
    client, captured = build_client(Settings.from_env({}, profile_sample_rate=0.0))
    path = "/" + "p" * 20_000
    with client:
        assert client.get(path).status_code == 404
        assert client.request("X" * 3000, "/predict").status_code in (404, 405)
    spans = {s.attributes.get("url.path", ""): s for s in captured.finished_spans() if s.kind.name == "SERVER"}
    assert len(spans[path[:1024]].attributes["url.path"]) == 1024
    methods = [
        s.attributes["http.request.method_original"] for s in spans.values() if "http.request.method_original" in s.attributes
    ]
    assert methods == ["X" * 1024]


def test_otel_attribute_value_length_limit_applies_on_top(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100")
    client, captured = build_client(Settings.from_env({}, profile_sample_rate=0.0))
    with client:
        assert client.get("/" + "p" * 5000).status_code == 404
    (span,) = [s for s in captured.finished_spans() if s.kind.name == "SERVER"]
    assert span.attributes is not None and len(str(span.attributes["url.path"])) == 100


def test_two_traceparent_headers_start_a_new_trace() -> None:
    client, captured = build_client(Settings.from_env({}, profile_sample_rate=0.0))
    with client:
        headers = [("traceparent", PARENT_A), ("traceparent", PARENT_B), ("tracestate", "vendor=forged")]
        assert client.post("/predict", json=EXAMPLE_APPLICATION, headers=headers).status_code == 200
        assert client.post("/predict", json=EXAMPLE_APPLICATION, headers={"traceparent": PARENT_A}).status_code == 200
    forged, honest = [s for s in captured.finished_spans() if s.name == "POST /predict"]
    assert forged.parent is None and f"{forged.context.trace_id:032x}" not in (PARENT_A[3:35], PARENT_B[3:35])
    assert not forged.context.trace_state
    assert honest.parent is not None and f"{honest.context.trace_id:032x}" == PARENT_A[3:35]

"""Elasticsearch holds each request's log record under its trace id, and the kept traces' spans.

Documents are in the exporter's ``none`` mapping (flat dotted keys: ``TraceId``, ``Body``,
``Attributes.<name>``, ``Resource.<name>``), see collector-config/otel-collector.yaml.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.backends import Elasticsearch, poll
from tests.e2e.collector import CollectorSettings
from tests.e2e.conftest import SLOW_FAULT_MS, E2ERun
from tests.e2e.test_jaeger import SLOW_FUNCTION, STAGES

pytestmark = pytest.mark.e2e

# The exporter flushes every 5 s, the index refreshes every second.
TIMEOUT_S = 60


def by_trace(elasticsearch: Elasticsearch, index: str, trace_id: str, count: int = 1) -> list[dict[str, Any]]:
    return poll(
        lambda: docs if len(docs := elasticsearch.search(index, {"term": {"TraceId": trace_id}})) >= count else None,
        timeout_s=TIMEOUT_S,
        what=f"{count} document(s) of trace {trace_id} in {index}",
    )


def test_request_log_record_is_stored_with_its_trace_id(
    run: E2ERun, elasticsearch: Elasticsearch, collector: CollectorSettings
) -> None:
    reply = run.burst["slow"][0]
    assert reply.trace_id
    (record,) = by_trace(elasticsearch, collector.logs_index, reply.trace_id)
    assert record["SpanId"] == reply.span_id, "the record belongs to the server span"
    assert record["Resource.service.name"] == run.name("slow")
    assert record["SeverityText"] == "INFO"
    assert record["Body"].startswith("POST /predict 200 ")
    assert record["Attributes.http.route"] == "/predict"
    assert record["Attributes.http.response.status_code"] == 200
    assert record["Attributes.latency_ms"] >= SLOW_FAULT_MS
    assert record["Attributes.stage_ms.feature_engineering"] >= SLOW_FAULT_MS
    assert {f"Attributes.stage_ms.{stage}" for stage in STAGES} <= record.keys()


def test_failed_request_log_record_is_stored(run: E2ERun, elasticsearch: Elasticsearch, collector: CollectorSettings) -> None:
    reply = run.burst["error"][0]
    assert reply.trace_id
    (record,) = by_trace(elasticsearch, collector.logs_index, reply.trace_id)
    assert record["Resource.service.name"] == run.name("error")
    assert record["Attributes.http.response.status_code"] == 500


def test_kept_traces_are_stored(run: E2ERun, elasticsearch: Elasticsearch, collector: CollectorSettings) -> None:
    reply = run.burst["slow"][0]
    assert reply.trace_id
    spans = by_trace(elasticsearch, collector.traces_index, reply.trace_id, count=1 + len(STAGES))
    by_name = {s["Name"]: s for s in spans}
    assert set(by_name) == {"POST /predict", *STAGES}
    server = by_name["POST /predict"]
    assert server["SpanId"] == reply.span_id and server["Kind"] == "SPAN_KIND_SERVER"
    assert all(by_name[stage]["ParentSpanId"] == reply.span_id for stage in STAGES)
    assert SLOW_FUNCTION in str(by_name["feature_engineering"]["Events.profile.hot_function.code.function.name"])

    error = run.burst["error"][0]
    assert error.trace_id
    failed = {s["Name"]: s for s in by_trace(elasticsearch, collector.traces_index, error.trace_id, count=4)}
    assert failed["onnx_inference"]["Attributes.error.type"] == "injected_fault"

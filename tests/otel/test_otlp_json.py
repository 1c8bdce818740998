"""``JsonSpanEncoder`` / ``JsonLogEncoder`` lines parse to protobuf's JSON mapping of the SDK encoder's request."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from otel.otlp_json import JsonLogEncoder, JsonSpanEncoder
from service.config import Settings
from tests.conftest import build_client
from tests.support.in_memory import recording_provider
from tests.support.otlp_json import otlp_json

_REMOTE = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("vendor", "v1"), ("a", "b")]))
_VALUES: dict[str, Any] = {
    "s": "text",
    "unicode": 'détaillé ✓ "quoted" \\ \n\t\x01',
    "empty": "",
    "neg": -5,
    "big": 2**63 - 1,
    "zero": 0,
    "f": 1.25,
    "whole": 3.0,
    "tiny": 5e-324,
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "yes": True,
    "no": False,
    "raw": b"\x00\xff bytes",
    "ints": (1, 2, 3),
    "strs": ("x", ""),
    "floats": (1.5, math.nan),
    "bools": (True, False),
    "none": (),
}


def _same_spans(spans: list[ReadableSpan], encoder: JsonSpanEncoder | None = None) -> None:
    assert json.loads((encoder or JsonSpanEncoder()).encode(spans)) == otlp_json(encode_spans(spans))


def _same_logs(records: list[ReadableLogRecord], encoder: JsonLogEncoder | None = None) -> None:
    assert json.loads((encoder or JsonLogEncoder()).encode(records)) == otlp_json(encode_logs(records))


def test_every_span_feature_matches_protobufs_json_mapping() -> None:
    resource = Resource.create({"service.name": "svc", "tags": ("a", "b"), "replicas": 3}, schema_url="https://schema/1")
    provider, exporter = recording_provider(resource=resource, span_limits=SpanLimits(max_span_attributes=len(_VALUES)))
    tracer = provider.get_tracer("scoped", "1.2", schema_url="https://scope/1", attributes={"scope.attr": 1})
    other = provider.get_tracer("other")
    with tracer.start_as_current_span(
        "root", context=trace.set_span_in_context(NonRecordingSpan(_REMOTE)), kind=SpanKind.SERVER, attributes=_VALUES
    ) as root:
        root.set_attribute("one too many", 1)
        root.add_event("with attributes", {"n": 1, "s": "v"})
        root.add_event("bare", timestamp=0)
        root.set_status(Status(StatusCode.ERROR, 'it "failed"'))
        with other.start_as_current_span(
            "linked", links=[Link(_REMOTE, {"why": "batch"}), Link(root.get_span_context())]
        ) as linked:
            try:
                raise ValueError("broken")
            except ValueError as error:
                linked.record_exception(error)
        with tracer.start_as_current_span("", kind=SpanKind.PRODUCER) as unnamed:
            unnamed.set_status(StatusCode.OK)
    with tracer.start_as_current_span("second root", kind=SpanKind.CONSUMER):
        pass
    spans = list(exporter.get_finished_spans())
    encoder = JsonSpanEncoder()
    _same_spans(spans, encoder)
    _same_spans(spans, encoder)  # the second time from the encoder's caches
    assert encoder.encode([]) == b"{}"


def test_the_services_own_spans_and_records_match() -> None:
    """FastSpans read through their fields, profiler events (of requests slowed to be sure of samples), request log records."""
    client, captured = build_client(
        Settings.from_env({"PROFILE_SAMPLE_RATE": "1", "FAULT_SLOW_FEATURE_MS": "15", "REQUEST_LOG": "all"})
    )
    with client:
        for age in (30, 31):
            client.post("/predict", json=_applicant(age))
        client.post("/predict", json={"age": "not a number"})
    spans = captured.finished_spans()
    assert any(event.name == "profile.hot_function" for span in spans for event in span.events)
    _same_spans(spans)
    _same_logs(list(captured.logs.get_finished_logs()))


def test_every_log_record_feature_matches_protobufs_json_mapping() -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(
        resource=Resource.create({"service.name": "svc"}), log_record_limits=LogRecordLimits(max_attributes=3)
    )
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("scoped", "1.0", schema_url="https://scope/1", attributes={"scope.attr": "x"})
    context = trace.set_span_in_context(NonRecordingSpan(_REMOTE))
    logger.emit(
        body="text", severity_number=SeverityNumber.WARN, severity_text="WARN", attributes={"a": 1, "b": 2.5}, context=context
    )
    logger.emit(
        body={"nested": {"list": [1, "x", None]}, "raw": b"\x01"}, event_name="ml.event", timestamp=123, observed_timestamp=456
    )
    logger.emit(body=None, attributes={"a": 1, "b": 2, "c": 3, "d": 4})  # one attribute over the limit: dropped and counted
    provider.get_logger("other").emit(body=["x", 1.5, math.inf])
    _same_logs(list(exporter.get_finished_logs()))


_attribute_values = st.one_of(
    st.text(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.text(), max_size=3).map(tuple),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=3).map(tuple),
    st.lists(st.floats(), max_size=3).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(attributes=st.dictionaries(st.text(max_size=8), _attribute_values, max_size=6), name=st.text(max_size=10))
def test_any_attribute_matches_protobufs_json_mapping(attributes: dict[str, Any], name: str) -> None:
    provider, exporter = recording_provider(resource=Resource.create({"service.name": "svc"}))
    with provider.get_tracer("t").start_as_current_span(name, attributes=attributes) as span:
        span.add_event("e", attributes)
    _same_spans(list(exporter.get_finished_spans()))


def _applicant(age: int) -> dict[str, Any]:
    from service.api.schemas import EXAMPLE_APPLICATION

    return {**EXAMPLE_APPLICATION, "age": age}

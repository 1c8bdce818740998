"""``SpanEncoder`` writes the request the SDK's OTLP encoder would build, byte for byte once decoded."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from otel import compat
from otel.otlp_spans import grpc_span_exporter, http_span_exporter
from otel.span_encoder import SpanEncoder
from otel.spans import FastSpan
from tests.support.in_memory import fast_tracer, recording_provider
from tests.support.otlp_receiver import GrpcReceiver, HttpReceiver


def _same_request(spans: list[ReadableSpan], encoder: SpanEncoder | None = None) -> None:
    ours = ExportTraceServiceRequest.FromString((encoder or SpanEncoder()).encode(spans))
    theirs = encode_spans(spans)
    # compared as deterministic bytes so that NaN attribute values compare equal too
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)


def _provider(resource: Resource | None = None) -> tuple[TracerProvider, InMemorySpanExporter]:
    return recording_provider(resource=resource or Resource.create({"service.name": "svc", "replicas": 3, "ratio": 0.5}))


def test_every_span_feature_encodes_as_the_sdk_does() -> None:
    provider, exporter = _provider(Resource.create({"service.name": "svc", "tags": ("a", "b")}, schema_url="https://schema/1"))
    tracer = provider.get_tracer("scoped", "1.2", schema_url="https://scope/1", attributes={"scope.attr": 1})
    other = provider.get_tracer("other")
    remote = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("vendor", "v1"), ("a", "b")]))
    attributes = {
        "s": "text",
        "unicode": "détaillé ✓",
        "empty": "",
        "neg": -5,
        "big": 2**62,
        "zero": 0,
        "f": 1.25,
        "fzero": 0.0,
        "yes": True,
        "no": False,
        "ints": (1, 2, 3),
        "strs": ("x", ""),
        "floats": (1.5,),
        "bools": (True, False),
    }
    with tracer.start_as_current_span(
        "root", context=trace.set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.SERVER, attributes=attributes
    ) as root:
        root.add_event("with attributes", {"n": 1, "s": "v"})
        root.add_event("bare")
        root.set_status(Status(StatusCode.ERROR, "it failed"))
        with other.start_as_current_span("linked", links=[Link(remote, {"why": "batch"})], kind=SpanKind.CLIENT) as linked:
            try:
                raise ValueError("broken")
            except ValueError as error:
                linked.record_exception(error)
        with tracer.start_as_current_span("ok", kind=SpanKind.PRODUCER) as ok:
            ok.set_status(StatusCode.OK)
    with tracer.start_as_current_span("second root", kind=SpanKind.CONSUMER):
        pass
    _same_request(list(exporter.get_finished_spans()))


def test_every_light_span_feature_encodes_as_the_sdk_does() -> None:
    """FastSpans are read through their fields, not the public properties: the same request must come out."""
    provider, exporter = recording_provider(
        resource=Resource.create({"service.name": "svc"}), span_limits=SpanLimits(max_span_attributes=3)
    )
    light = fast_tracer(provider, "otel-ml", "0.1")
    remote = SpanContext(0xABC, 0xDEF, True, TraceFlags(1), TraceState([("vendor", "v1")]))
    root = light.start_span("root", context=trace.set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.SERVER)
    root.set_attributes({"s": "text", "ints": (1, 2), "f": 1.5, "dropped": True})  # one over the limit of 3
    root.add_event("with attributes", {"n": 1, "s": "v"})
    root.add_link(remote, {"why": "batch"})
    root.set_status(Status(StatusCode.ERROR, "it failed"))
    child = light.start_child("child", root.get_span_context(), {"ml.stage": "validation"})
    try:
        raise ValueError("broken")
    except ValueError as error:
        child.record_exception(error)
    child.set_status(StatusCode.OK)
    child.end()
    root.end()
    spans = list(exporter.get_finished_spans())
    assert [type(s) for s in spans] == [FastSpan, FastSpan] and spans[1].dropped_attributes == 1
    _same_request(spans)


def test_light_spans_and_sdk_spans_in_one_batch() -> None:
    provider, exporter = _provider()
    light = fast_tracer(provider, "otel-ml")
    server = light.start_span("POST /predict", kind=SpanKind.SERVER, attributes={"http.request.method": "POST"})
    stage = light.start_child("validation", server.get_span_context(), {"ml.stage": "validation", "ml.batch.size": 1})
    stage.add_event("profile.hot_function", {"code.function.name": "f", "code.line.number": 3, "profile.self_ms": 0.5})
    stage.end()
    with provider.get_tracer("httpx").start_as_current_span("GET", context=trace.set_span_in_context(server)):
        pass
    server.end()
    spans = list(exporter.get_finished_spans())
    assert len(spans) == 3
    _same_request(spans)


def test_cached_attributes_stay_correct_across_batches_and_cache_resets() -> None:
    provider, exporter = _provider()
    tracer = provider.get_tracer("t")
    encoder = SpanEncoder(max_cached_attributes=3)  # forces the cache to clear mid-batch
    for round_ in range(3):
        exporter.clear()
        for i in range(10):
            with tracer.start_as_current_span(
                "s", attributes={"stage": f"s{i % 4}", "n": i % 2, "flag": bool(i % 2), "round": round_}
            ) as span:
                span.add_event("e", {"stage": f"s{i % 4}"})  # same key and value under another field of the message
        _same_request(list(exporter.get_finished_spans()), encoder)


def test_equal_values_of_different_types_never_share_a_cached_encoding() -> None:
    """1, 1.0 and True are equal dict keys; each must still encode as its own type, batch after batch."""
    provider, exporter = _provider()
    tracer, encoder = provider.get_tracer("t"), SpanEncoder()
    for value in (1, True, 1.0, 1, False, 0, 0.0, "1"):
        exporter.clear()
        with tracer.start_as_current_span("s", attributes={"n": value, "stage": "x"}):
            pass
        _same_request(list(exporter.get_finished_spans()), encoder)


def test_unencodable_attribute_is_dropped_not_the_span() -> None:
    provider, exporter = _provider()
    with provider.get_tracer("t").start_as_current_span("s", attributes={"ok": 1}) as span:
        span._attributes._dict["huge"] = 2**70  # type: ignore[attr-defined]  # past int64: the SDK encoder drops it too
    (finished,) = exporter.get_finished_spans()
    request = ExportTraceServiceRequest.FromString(SpanEncoder().encode([finished]))
    (encoded,) = request.resource_spans[0].scope_spans[0].spans
    assert [kv.key for kv in encoded.attributes] == ["ok"]


_VALUES = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.text(max_size=5), max_size=3).map(tuple),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=3).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), _VALUES, max_size=8), st.text(max_size=10))
def test_any_attributes_encode_as_the_sdk_does(attributes: dict[str, object], name: str) -> None:
    provider, exporter = _provider()
    with provider.get_tracer("t").start_as_current_span(name, attributes=attributes) as span:  # type: ignore[arg-type]
        span.add_event(name, attributes)  # type: ignore[arg-type]
    spans = list(exporter.get_finished_spans())
    _same_request(spans)
    if any(isinstance(v, float) and math.isnan(v) for v in attributes.values()):
        return
    assert ExportTraceServiceRequest.FromString(SpanEncoder().encode(spans)) == encode_spans(spans)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "sdk-fallback"])
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_fast_exporters_deliver_the_sdk_request_to_a_real_receiver(
    protocol: str, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the wire, with gzip, to a receiver decoding with opentelemetry-proto; the SDK's exporter metrics still count.

    With the fast path off (``otel.compat``), the SDK's own exporter delivers the same request.
    """
    if not fast:
        monkeypatch.setattr(compat, "FAST_GRPC_SPANS" if protocol == "grpc" else "FAST_HTTP_SPANS", False)
    receiver = (GrpcReceiver() if protocol == "grpc" else HttpReceiver()).start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
        monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
        reader = InMemoryMetricReader()
        exporter_class = grpc_span_exporter if protocol == "grpc" else http_span_exporter
        exporter = exporter_class(meter_provider=MeterProvider(metric_readers=[reader]))
        provider, memory = _provider()
        light = fast_tracer(provider, "otel-ml")
        server = light.start_span("POST /predict", kind=SpanKind.SERVER, attributes={"http.request.method": "POST"})
        light.start_child("validation", server.get_span_context(), {"ml.stage": "validation"}).end()
        server.end()
        spans = list(memory.get_finished_spans())
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        (request,) = receiver.received.traces
        assert request == encode_spans(spans)
        assert receiver.received.headers[0]["x-tenant"] == "acme"
        exported = (
            [
                point.value
                for rm in reader.get_metrics_data().resource_metrics
                for sm in rm.scope_metrics
                for metric in sm.metrics
                if metric.name == "otel.sdk.exporter.span.exported"
                for point in metric.data.data_points
            ]
            if reader.get_metrics_data() is not None
            else []
        )
        # The SDK counts exported spans from release 1.41 (the exporter then takes a meter provider); 1.40 counts none.
        assert sum(exported) == (2 if compat.self_metrics(BatchSpanProcessor, reader) else 0)
        exporter.shutdown()
    finally:
        receiver.stop()

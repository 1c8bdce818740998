"""``FastTracer`` spans behave as SDK spans do: same sampling, limits, attribute cleaning, status and events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel.spans import FastSpan
from tests.support.in_memory import fast_tracer, recording_provider


def _both(script: Callable[[trace.Span], None], **provider_options: Any) -> tuple[ReadableSpan, ReadableSpan]:
    """The same operations on an SDK span and on a fast span; their finished forms."""
    provider, exporter = recording_provider(**provider_options)
    sdk_span = provider.get_tracer("t").start_span("op")
    script(sdk_span)
    sdk_span.end()
    light_span = fast_tracer(provider, "t").start_span("op")
    script(light_span)
    light_span.end()
    sdk_finished, light_finished = exporter.get_finished_spans()
    return sdk_finished, light_finished


def _events(span: ReadableSpan) -> list[tuple[str, dict[str, Any]]]:
    return [(event.name, dict(event.attributes or {})) for event in span.events]


def test_attributes_status_and_events_match_the_sdk() -> None:
    def script(span: trace.Span) -> None:
        span.set_attribute("s", "v")
        span.set_attribute("shape", [1, 10])  # a list is stored as a tuple
        span.set_attribute("bad", {"nested": 1})  # type: ignore[arg-type]  # invalid: dropped
        span.set_attributes({"n": 3, "f": 0.5, "b": True})
        span.add_event("profile.hot_function", {"code.function.name": "f", "code.line.number": 7})
        span.update_name("renamed")
        try:
            raise KeyError("missing")
        except KeyError as error:
            span.record_exception(error, attributes={"extra": 1}, escaped=True)
        span.set_status(StatusCode.ERROR, "failed")
        span.set_status(StatusCode.UNSET)  # ignored

    sdk, light = _both(script)
    assert light.name == sdk.name == "renamed"
    assert dict(light.attributes) == dict(sdk.attributes) and light.attributes["shape"] == (1, 10)
    assert (light.status.status_code, light.status.description) == (sdk.status.status_code, sdk.status.description)
    light_events, sdk_events = _events(light), _events(sdk)
    assert [name for name, _ in light_events] == ["profile.hot_function", "exception"]
    assert light_events[1][1].keys() == sdk_events[1][1].keys()
    assert light_events[1][1]["exception.type"] == sdk_events[1][1]["exception.type"] == "KeyError"
    assert light_events[1][1]["exception.escaped"] == "True"
    assert light.resource is sdk.resource and light.kind is SpanKind.INTERNAL


def test_ok_is_final_and_ended_spans_ignore_writes() -> None:
    provider, exporter = recording_provider()
    span = fast_tracer(provider, "t").start_span("op")
    span.set_status(StatusCode.OK)
    span.set_status(StatusCode.ERROR, "too late")
    span.end()
    span.set_attribute("after", 1)
    span.add_event("after")
    span.end()  # a second end exports nothing more
    (finished,) = exporter.get_finished_spans()
    assert finished.status.status_code is StatusCode.OK
    assert "after" not in finished.attributes and not finished.events
    assert not span.is_recording()


def test_span_limits_from_the_environment_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")

    def script(span: trace.Span) -> None:
        span.set_attributes({"b": 1, "c": 2, "a": "abcdefgh"})

    sdk, light = _both(script, span_limits=SpanLimits())
    assert dict(light.attributes) == dict(sdk.attributes) == {"c": 2, "a": "abcd"}  # the oldest made room
    assert light.dropped_attributes == sdk.dropped_attributes == 1


def test_the_providers_sampler_decides_as_for_sdk_spans() -> None:
    provider, exporter = recording_provider(sampler=ALWAYS_OFF)
    tracer = fast_tracer(provider, "t")
    unsampled = tracer.start_span("op", kind=SpanKind.SERVER)
    assert not unsampled.is_recording() and unsampled.get_span_context().is_valid
    assert not unsampled.get_span_context().trace_flags.sampled
    unsampled.end()
    assert not exporter.get_finished_spans()

    ratio, _ = recording_provider(sampler=ParentBased(TraceIdRatioBased(0.5)))
    light, sdk = fast_tracer(ratio, "t"), ratio.get_tracer("t")
    for trace_id in (1, 2**64 - 1, 2**63, 12345 << 64, 2**128 - 1):
        parent = trace.set_span_in_context(NonRecordingSpan(SpanContext(trace_id, 7, True, TraceFlags(0x02))))
        ours, theirs = light.start_span("op", context=parent), sdk.start_span("op", context=parent)
        assert ours.get_span_context().trace_flags == theirs.get_span_context().trace_flags
        assert ours.is_recording() == theirs.is_recording()


class ChosenTraceIds(RandomIdGenerator):
    """Random span ids, and the trace id the test chose for the next root."""

    next_trace_id = 1

    def generate_trace_id(self) -> int:
        return self.next_trace_id


class AlwaysSampleParentBased(ParentBased):
    """A user's sampler built on ParentBased that overrides its decision: it must be asked, never second-guessed."""

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE)


@pytest.mark.parametrize(
    "sampler",
    [
        ParentBased(TraceIdRatioBased(0.1)),
        ParentBasedTraceIdRatio(0.5),
        TraceIdRatioBased(0.3),
        ALWAYS_OFF,
        ParentBased(ALWAYS_OFF),
        ALWAYS_ON,
        AlwaysSampleParentBased(TraceIdRatioBased(0.0)),
    ],
    ids=lambda sampler: type(sampler).__name__ + ":" + sampler.get_description(),
)
def test_roots_are_decided_as_the_sdk_decides_them(sampler: Any) -> None:
    ids = ChosenTraceIds()
    provider, _ = recording_provider(sampler=sampler, id_generator=ids)
    light, sdk = fast_tracer(provider, "t"), provider.get_tracer("t")
    bound = TraceIdRatioBased.get_bound_for_rate(0.1)
    for trace_id in (1, bound - 1, bound, bound + 1, 2**63, 2**64 - 1, 2**64, 12345 << 64 | 99, 2**128 - 1):
        ids.next_trace_id = trace_id
        ours, theirs = light.start_span("op", kind=SpanKind.SERVER), sdk.start_span("op", kind=SpanKind.SERVER)
        mine, sdks = ours.get_span_context(), theirs.get_span_context()
        assert (mine.trace_id, mine.trace_flags, mine.trace_state) == (sdks.trace_id, sdks.trace_flags, sdks.trace_state)
        assert ours.is_recording() == theirs.is_recording() and mine.is_valid


def test_continues_a_remote_parent_and_parents_sdk_children() -> None:
    provider, exporter = recording_provider()
    remote = SpanContext(0x1234, 0x5678, True, TraceFlags(TraceFlags.SAMPLED))
    server = fast_tracer(provider, "otel-ml").start_span(
        "POST /predict", context=trace.set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.SERVER
    )
    assert isinstance(server, FastSpan)
    token = context.attach(trace.set_span_in_context(server))
    try:
        with provider.get_tracer("httpx").start_as_current_span("GET downstream"):
            pass
    finally:
        context.detach(token)
    server.end()
    child, finished = exporter.get_finished_spans()
    assert finished.parent == remote and finished.parent.is_remote
    assert finished.context.trace_id == 0x1234 and finished.kind is SpanKind.SERVER
    assert child.parent == finished.context


def test_processors_added_later_see_light_spans() -> None:
    provider, _ = recording_provider()
    tracer = fast_tracer(provider, "t")
    late = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(late))
    tracer.start_child("stage", tracer.start_span("root").get_span_context(), {"ml.stage": "x"}).end()
    (finished,) = late.get_finished_spans()
    assert finished.attributes["ml.stage"] == "x" and finished.instrumentation_scope.name == "t"


def test_status_object_and_exit_with_exception() -> None:
    provider, exporter = recording_provider()
    tracer = fast_tracer(provider, "t")
    with pytest.raises(RuntimeError), tracer.start_span("op"):
        raise RuntimeError("boom")
    (finished,) = exporter.get_finished_spans()
    assert finished.status.status_code is StatusCode.ERROR
    assert [event.name for event in finished.events] == ["exception"]
    span = tracer.start_span("op2")
    span.set_status(Status(StatusCode.ERROR, "described"))
    span.end()
    assert exporter.get_finished_spans()[-1].status.description == "described"

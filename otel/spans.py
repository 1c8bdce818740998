"""The spans this package makes (server and stage spans): SDK-compatible, at under half the SDK's cost.

``Tracer.start_span`` + ``end`` of the Python SDK costs 16–20 µs per span here (8–9 for these): attribute
validation under a lock per attribute, the sampler consulted for every child, limits objects, span
self-metrics. With five spans a request that is a third of the whole telemetry budget
(BENCHMARKS.md). ``LightTracer`` keeps the SDK's parts and its semantics where they matter:

* the provider's **sampler** decides the server span (parent-based, ratio, always-on/off from
  ``OTEL_TRACES_SAMPLER``) and its **id generator** makes the ids; a stage span is a child of a
  recorded span, so it is recorded without asking the sampler again (what ``parentbased_*`` answers);
* ``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`` / ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` and the event limits
  are applied (``SpanLimits``), attribute values are cleaned as the SDK cleans them;
* a finished span is an SDK ``ReadableSpan`` handed to the provider's span processors, so every
  exporter, processor and in-memory test exporter sees an ordinary span.

A ``LightSpan`` implements the whole ``opentelemetry.trace.Span`` API, so code running inside a
stage (``trace.get_current_span().set_attribute(...)``) and child spans of other instrumentations
work unchanged. What it does not do: the SDK's ``otel.sdk.span.*`` self-metrics for these spans.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from time import time_ns
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, StaticSampler, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

_SIMPLE = frozenset((str, bool, int, float))  # stored as given, nothing to clean
_UNSET = Status(StatusCode.UNSET)


class LightTracer:
    """Starts ``LightSpan``s on one ``TracerProvider``'s sampler, ids, resource and processors."""

    def __init__(self, provider: TracerProvider, scope_name: str, scope_version: str | None = None) -> None:
        self.provider = provider
        self.scope = InstrumentationScope(scope_name, scope_version)
        self.limits: SpanLimits = getattr(provider, "_span_limits", None) or SpanLimits()
        self._ids = provider.id_generator
        self._random_ids = provider.id_generator.is_trace_id_random()
        self._root_bound = root_sampling_bound(provider.sampler)
        self._root_drop_flags = TraceFlags(TraceFlags.RANDOM_TRACE_ID if self._random_ids else TraceFlags.DEFAULT)
        # A sampler deciding roots from (trace id, name) alone, e.g. otel.jaeger_remote_sampler: asked directly,
        # so its dropped roots cost what a ratio sampler's do (no SamplingResult, no parent lookup).
        self._root_decider = getattr(provider.sampler, "root_decider", None)
        self._root_sample_flags = TraceFlags(self._root_drop_flags | TraceFlags.SAMPLED)

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> trace.Span:
        """A span decided by the provider's sampler, as ``Tracer.start_span`` would decide it."""
        parent = trace.get_current_span(context).get_span_context()
        if not parent.is_valid:
            parent, trace_id = None, self._ids.generate_trace_id()
            if self._root_bound is not None and trace_id & TraceIdRatioBased.TRACE_ID_LIMIT >= self._root_bound:
                # The sampler's own answer for a root it drops, without building its result objects.
                return NonRecordingSpan(SpanContext(trace_id, self._ids.generate_span_id(), False, self._root_drop_flags))
            if self._root_decider is not None:
                sampled = self._root_decider.sample_root(trace_id, name)
                flags = self._root_sample_flags if sampled else self._root_drop_flags
                span_context = SpanContext(trace_id, self._ids.generate_span_id(), False, flags)
                if not sampled:
                    return NonRecordingSpan(span_context)
                root = LightSpan(self, name, span_context, None, kind, {}, context)
                if attributes:
                    root.set_attributes(attributes)
                return root
            random_id = self._random_ids
        else:
            trace_id, random_id = parent.trace_id, parent.trace_flags.random_trace_id
        result = self.provider.sampler.should_sample(context, trace_id, name, kind, attributes)
        flags = TraceFlags.SAMPLED if result.decision.is_sampled() else TraceFlags.DEFAULT
        if random_id:
            flags |= TraceFlags.RANDOM_TRACE_ID
        span_context = SpanContext(trace_id, self._ids.generate_span_id(), False, TraceFlags(flags), result.trace_state)
        if not result.decision.is_recording():
            return NonRecordingSpan(span_context)
        span = LightSpan(self, name, span_context, parent, kind, {}, context)
        if result.attributes:
            span.set_attributes(result.attributes)  # the caller's attributes, as the sampler passed them on
        return span

    def start_child(self, name: str, parent: SpanContext, attributes: Mapping[str, AttributeValue]) -> LightSpan:
        """An INTERNAL child of a recorded span: recorded without asking the sampler, as ``parentbased_*`` would."""
        span_context = SpanContext(parent.trace_id, self._ids.generate_span_id(), False, parent.trace_flags, parent.trace_state)
        span = LightSpan(self, name, span_context, parent, SpanKind.INTERNAL, {}, None)
        span.set_attributes(attributes)
        return span


def root_sampling_bound(sampler: Sampler) -> int | None:
    """Roots whose trace id's low 64 bits reach this bound are dropped by ``sampler``; None when it decides otherwise.

    Only for the SDK's own samplers whose root decision depends on the trace id alone: ratio, always-on/off,
    and those as the root of ``parentbased_*``. Any other sampler is always asked.
    """
    parent_based = isinstance(sampler, ParentBased) and type(sampler).should_sample is ParentBased.should_sample
    root = sampler._root if parent_based else sampler
    if type(root) is TraceIdRatioBased:
        return root.bound
    if type(root) is StaticSampler:
        return 0 if root._decision is Decision.DROP else None
    return None


class LightSpan(trace.Span, ReadableSpan):
    """A recording span in plain fields; at ``end()`` it is itself the ``ReadableSpan`` the processors get.

    The layout is the SDK span's (``Span(trace.Span, ReadableSpan)``), so every exporter reads it as one.
    """

    def __init__(
        self,
        tracer: LightTracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, AttributeValue],
        parent_context: Context | None,
    ) -> None:
        # ReadableSpan's fields, set directly (its __init__ would build a Resource when none is given)
        self._tracer = tracer
        self._name, self._context, self._parent, self._kind = name, context, parent, kind
        self._attributes = attributes
        self._dropped_attributes = 0
        self._events: list[Event] = []
        self._links: list[Link] = []
        self._status = _UNSET
        self._resource = tracer.provider.resource
        self._instrumentation_scope = tracer.scope
        self._instrumentation_info = None
        self._end_time: int | None = None
        self._start_time = time_ns()
        tracer.provider._active_span_processor.on_start(self, parent_context)  # type: ignore[arg-type]

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes

    # --- opentelemetry.trace.Span ---

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self._end_time is not None:
            return
        limits = self._tracer.limits
        if type(value) not in _SIMPLE or (type(value) is str and limits.max_span_attribute_length is not None):
            value = _clean(key, value, limits.max_span_attribute_length)
            if value is None:
                return
        attributes = self._attributes
        if key not in attributes and limits.max_span_attributes is not None and len(attributes) >= limits.max_span_attributes:
            self._dropped_attributes += 1  # as the SDK: the oldest attribute makes room
            if not attributes:
                return
            del attributes[next(iter(attributes))]
        attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        limits = self._tracer.limits
        if (
            self._end_time is None
            and limits.max_span_attribute_length is None
            and (limits.max_span_attributes is None or len(self._attributes) + len(attributes) <= limits.max_span_attributes)
            and all(type(value) in _SIMPLE for value in attributes.values())
        ):
            self._attributes.update(attributes)  # nothing to clean or drop: the common case, in one step
            return
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None, timestamp: int | None = None) -> None:
        if self._end_time is not None:
            return
        limits = self._tracer.limits
        if limits.max_events is not None and len(self._events) >= limits.max_events:
            return
        bounded = BoundedAttributes(
            limits.max_event_attributes, attributes, max_value_len=limits.max_attribute_length, immutable=True
        )
        self._events.append(Event(name, bounded, timestamp))

    def add_link(self, context: SpanContext, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        limits = self._tracer.limits
        if self._end_time is None and context.is_valid and (limits.max_links is None or len(self._links) < limits.max_links):
            bounded = BoundedAttributes(
                limits.max_link_attributes, attributes, max_value_len=limits.max_attribute_length, immutable=True
            )
            self._links.append(Link(context, bounded))

    def update_name(self, name: str) -> None:
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """As the SDK: OK is final, UNSET is ignored."""
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, AttributeValue] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """The SDK's ``exception`` event: type, message, stack trace, escaped."""
        cls = type(exception)
        module = cls.__module__
        event: dict[str, AttributeValue] = {
            "exception.type": f"{module}.{cls.__qualname__}" if module and module != "builtins" else cls.__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            event.update(attributes)
        self.add_event("exception", event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            return
        self._end_time = end_time if end_time is not None else time_ns()
        self._tracer.provider._active_span_processor.on_end(self)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None and self._end_time is None:
            self.record_exception(exc, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.end()

    def __repr__(self) -> str:
        return f"LightSpan(name={self._name!r}, context={self._context!r})"


def _clean(key: str, value: Any, max_length: int | None) -> AttributeValue | None:
    """A value as the SDK would store it (sequences to tuples, long strings cut), or None if invalid."""
    cleaned = BoundedAttributes(None, {key: value}, max_value_len=max_length)
    return cleaned.get(key)

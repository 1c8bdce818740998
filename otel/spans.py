"""The server and stage spans: ``FastTracer`` makes SDK-compatible spans at a fraction of the SDK's cost.

Why and how much: BENCHMARKS.md, "Where the CPU goes: telemetry pieces in isolation". ``FastTracer`` keeps the SDK's parts and
semantics:

* the provider's **sampler** decides the server span and its **id generator** makes the ids; a stage
  span is a child of a recorded span, so it is recorded without asking the sampler again (what
  ``parentbased_*`` answers);
* the span limits (``OTEL_SPAN_*``, ``OTEL_ATTRIBUTE_*``) are applied, values are cleaned as the SDK
  cleans them;
* the span processor gets ``on_start``, ``_on_ending`` and ``on_end`` where the SDK's ``Span`` calls them;
  an ended span ignores every change, so it is immutable to the processors that receive it.

A ``FastSpan`` implements the whole ``opentelemetry.trace.Span`` API and is an SDK ``ReadableSpan``.
It does not record the SDK's ``otel.sdk.span.*`` self-metrics. When ``otel.compat.FAST_SPANS`` is off,
``SdkSpanTracer`` starts the same spans with the SDK's tracer.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from time import time_ns
from types import TracebackType
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import AttributeValue

from otel.compat import SpanRecord, on_ending, root_sampling_bound

_RANDOM_FLAG: int = getattr(TraceFlags, "RANDOM_TRACE_ID", 0)
_SIMPLE = frozenset((str, bool, int, float))  # stored as given, nothing to clean


class SpanTracer(Protocol):
    """What the middleware and stages start spans with: ``FastTracer`` or, as the fallback, ``SdkSpanTracer``."""

    def start_span(self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL) -> trace.Span:
        """A span decided by the provider's sampler, child of the span in ``context`` (current context if None)."""
        ...

    def start_child(self, name: str, parent: SpanContext, attributes: Mapping[str, AttributeValue]) -> trace.Span:
        """An INTERNAL child of the recorded span ``parent``, with ``attributes``."""
        ...


class FastTracer:
    """Starts ``FastSpan``s on ``provider``'s sampler, ids and resource, ending them into ``processor``.

    ``processor`` and ``limits`` are the ones the provider was built with (its ``active_span_processor``
    and ``span_limits`` arguments), so these spans reach every processor added to the provider.
    """

    def __init__(
        self,
        provider: TracerProvider,
        processor: SpanProcessor,
        limits: SpanLimits,
        scope_name: str,
        scope_version: str | None = None,
    ) -> None:
        self.provider = provider
        self.processor = processor
        self.resource = provider.resource
        self.scope = InstrumentationScope(scope_name, scope_version)
        self.limits = limits
        self._ids = provider.id_generator
        # W3C Trace Context level 2's random flag: opentelemetry-api 1.41 and later; 0 (never set) before.
        self._random_ids = bool(_RANDOM_FLAG) and bool(getattr(provider.id_generator, "is_trace_id_random", bool)())
        self._root_bound = root_sampling_bound(provider.sampler)
        self._root_drop_flags = TraceFlags(_RANDOM_FLAG if self._random_ids else TraceFlags.DEFAULT)
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
        """A span decided by the provider's sampler, as ``Tracer.start_span`` would decide it.

        Returns a ``FastSpan`` when the sampler records it, else a ``NonRecordingSpan`` with the decided context.
        """
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        if parent is None or not parent.is_valid:
            parent, trace_id = None, self._ids.generate_trace_id()
            if self._root_bound is not None and trace_id & TraceIdRatioBased.TRACE_ID_LIMIT >= self._root_bound:
                # The sampler's own answer for a root it drops, without building its result objects.
                return NonRecordingSpan(SpanContext(trace_id, self._ids.generate_span_id(), False, self._root_drop_flags))
            if self._root_decider is not None:
                sampled = self._root_decider.sample_root(trace_id, name)
                root_flags = self._root_sample_flags if sampled else self._root_drop_flags
                span_context = SpanContext(trace_id, self._ids.generate_span_id(), False, root_flags)
                if not sampled:
                    return NonRecordingSpan(span_context)
                root = FastSpan(self, name, span_context, None, kind, context)
                if attributes:
                    root.set_attributes(attributes)
                return root
            random_id = self._random_ids
        else:
            trace_id, random_id = parent.trace_id, bool(parent.trace_flags & _RANDOM_FLAG)
        result = self.provider.sampler.should_sample(context, trace_id, name, kind, attributes)
        sampled = result.decision.is_sampled()  # type: ignore[no-untyped-call]  # unannotated in the SDK
        flags = TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT
        if random_id:
            flags |= _RANDOM_FLAG
        span_context = SpanContext(trace_id, self._ids.generate_span_id(), False, TraceFlags(flags), result.trace_state)
        if not result.decision.is_recording():  # type: ignore[no-untyped-call]  # unannotated in the SDK
            return NonRecordingSpan(span_context)
        span = FastSpan(self, name, span_context, parent, kind, context)
        if result.attributes:
            span.set_attributes(result.attributes)  # the caller's attributes, as the sampler passed them on
        return span

    def start_child(self, name: str, parent: SpanContext, attributes: Mapping[str, AttributeValue]) -> FastSpan:
        """An INTERNAL child of the recorded span ``parent``: recorded without asking the sampler, as ``parentbased_*`` would."""
        span_context = SpanContext(parent.trace_id, self._ids.generate_span_id(), False, parent.trace_flags, parent.trace_state)
        span = FastSpan(self, name, span_context, parent, SpanKind.INTERNAL, None)
        span.set_attributes(attributes)
        return span


class SdkSpanTracer:
    """The fallback ``SpanTracer``: the same spans from the SDK's own tracer (``otel.compat.FAST_SPANS`` off)."""

    def __init__(self, provider: TracerProvider, scope_name: str, scope_version: str | None = None) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer(scope_name, scope_version)

    def start_span(self, name: str, context: Context | None = None, kind: SpanKind = SpanKind.INTERNAL) -> trace.Span:
        """The SDK's ``Tracer.start_span``."""
        return self._tracer.start_span(name, context=context, kind=kind)

    def start_child(self, name: str, parent: SpanContext, attributes: Mapping[str, AttributeValue]) -> trace.Span:
        """The SDK's ``Tracer.start_span`` under ``parent``."""
        parent_context = trace.set_span_in_context(NonRecordingSpan(parent))
        return self._tracer.start_span(name, context=parent_context, attributes=attributes)


class FastSpan(trace.Span, SpanRecord):
    """A recording span in plain fields; ended, it is itself the ``ReadableSpan`` the processors get.

    Made by ``FastTracer``; the layout is the SDK span's (``Span(trace.Span, ReadableSpan)``), so every
    exporter and processor reads it as one.
    """

    def __init__(
        self,
        tracer: FastTracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        parent_context: Context | None,
    ) -> None:
        self._tracer = tracer
        self._span_context = context
        self._attrs: dict[str, AttributeValue] = {}
        self._event_list: list[Event] = []
        self._link_list: list[Link] = []
        self._dropped = 0
        self._open = True
        self._final = False  # status OK was set: the SDK keeps it
        SpanRecord.__init__(
            self,
            name,
            context,
            parent,
            kind,
            tracer.resource,
            tracer.scope,
            self._attrs,
            self._event_list,
            self._link_list,
            time_ns(),
        )
        tracer.processor.on_start(self, parent_context)  # type: ignore[arg-type]  # a FastSpan is what the SDK's Span is to processors

    @property
    def dropped_attributes(self) -> int:
        """Attributes dropped by the attribute-count limit."""
        return self._dropped

    # --- opentelemetry.trace.Span ---

    def get_span_context(self) -> SpanContext:
        """This span's context."""
        return self._span_context

    def is_recording(self) -> bool:
        """True until the span ends."""
        return self._open

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set one attribute (cleaned and limited as the SDK does); ignored once ended."""
        if not self._open:
            return
        limits = self._tracer.limits
        if type(value) not in _SIMPLE or (type(value) is str and limits.max_span_attribute_length is not None):
            cleaned = _clean(key, value, limits.max_span_attribute_length)
            if cleaned is None:
                return
            value = cleaned
        attributes = self._attrs
        if key not in attributes and limits.max_span_attributes is not None and len(attributes) >= limits.max_span_attributes:
            self._dropped += 1  # as the SDK: the oldest attribute makes room
            if not attributes:
                return
            del attributes[next(iter(attributes))]
        attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        """Set several attributes; ignored once ended."""
        limits = self._tracer.limits
        if (
            self._open
            and limits.max_span_attribute_length is None
            and (limits.max_span_attributes is None or len(self._attrs) + len(attributes) <= limits.max_span_attributes)
            and all(type(value) in _SIMPLE for value in attributes.values())
        ):
            self._attrs.update(attributes)  # nothing to clean or drop: the common case, in one step
            return
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None, timestamp: int | None = None) -> None:
        """Add an event (limited as the SDK does); ignored once ended."""
        if not self._open:
            return
        limits = self._tracer.limits
        if limits.max_events is not None and len(self._event_list) >= limits.max_events:
            return
        bounded = BoundedAttributes(
            limits.max_event_attributes, attributes, max_value_len=limits.max_attribute_length, immutable=True
        )
        self._event_list.append(Event(name, bounded, timestamp))

    def add_link(self, context: SpanContext, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        """Link a valid span context (limited as the SDK does); ignored once ended."""
        limits = self._tracer.limits
        if self._open and context.is_valid and (limits.max_links is None or len(self._link_list) < limits.max_links):
            bounded = BoundedAttributes(
                limits.max_link_attributes, attributes, max_value_len=limits.max_attribute_length, immutable=True
            )
            self._link_list.append(Link(context, bounded))

    def update_name(self, name: str) -> None:
        """Rename the span; ignored once ended."""
        if self._open:
            self.write_name(name)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """As the SDK: OK is final, UNSET is ignored, and so is any change once ended."""
        if not self._open or self._final:
            return
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self.write_status(status)
                self._final = status.status_code is StatusCode.OK
        elif status is not StatusCode.UNSET:
            self.write_status(Status(status, description))
            self._final = status is StatusCode.OK

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
        """End the span once: the processor's ``_on_ending`` then ``on_end``, as the SDK's ``Span.end``."""
        if not self._open:
            return
        self._open = False
        self.write_end_time(end_time if end_time is not None else time_ns())
        processor = self._tracer.processor
        on_ending(processor, self)
        processor.on_end(self)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None and self._open:
            self.record_exception(exc, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.end()

    def __repr__(self) -> str:
        return f"FastSpan(name={self.name!r}, context={self._span_context!r})"


def _clean(key: str, value: Any, max_length: int | None) -> AttributeValue | None:
    """A value as the SDK would store it (sequences to tuples, long strings cut), or None if invalid."""
    cleaned = BoundedAttributes(None, {key: value}, max_value_len=max_length)
    return cleaned.get(key)

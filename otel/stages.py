"""Stage spans and stage durations: ``with stage("feature_engineering"): ...``.

Inside a request handled by ``otel.instrument``, ``stage(name)`` opens a child span of the
server span, records ``ml.stage.duration`` with that span as the point's exemplar, and on an exception marks the span ERROR with
``error.type`` and an exception event, counts ``ml.errors``, and re-raises.

It is built for the hot path: an unsampled request gets no span at all (only the histogram
record), and with telemetry disabled ``stage()`` returns a shared no-op object.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import Token
from time import perf_counter_ns
from types import TracebackType
from typing import Any, Final, Protocol, Self, runtime_checkable

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, StatusCode
from opentelemetry.util.types import AttributeValue

from otel.attributes import ERROR_TYPE, ML_STAGE
from otel.request import RequestState, StageObserver, StageRecorder, current_request

__all__ = ["NOOP_STAGE", "NoopStage", "SpanError", "Stage", "StageRecorder", "stage"]


@runtime_checkable
class SpanError(Protocol):
    """An exception that says how it shows on a stage span: its ``error.type`` and extra event attributes.

    Any other exception is recorded with its class name as ``error.type`` and no extra attributes.
    """

    error_type: str

    def span_attributes(self) -> Mapping[str, AttributeValue]:
        """Attributes added to the stage's exception event (e.g. which fields failed, never their values)."""
        ...


_STAGE_ATTRIBUTES = (ML_STAGE,)  # the names of ml.stage.duration's attributes, for ``point_of``


class Stage:
    """One running stage; use as a context manager. ``set_attribute`` is a no-op when unsampled."""

    __slots__ = ("_attributes", "_recorder", "_request", "_start", "_token", "name", "span")

    def __init__(
        self, recorder: StageRecorder, request: RequestState | None, name: str, attributes: dict[str, AttributeValue]
    ) -> None:
        self._recorder, self._request, self.name, self._attributes = recorder, request, name, attributes
        self.span: Span | None = None
        self._token: Token[Context] | None = None
        self._start = 0

    def __enter__(self) -> Self:
        request = self._request
        if request.sampled if request is not None else trace.get_current_span().is_recording():
            recorder = self._recorder
            parent = trace.get_current_span().get_span_context()
            span = recorder.tracer.start_child(
                self.name, parent, {ML_STAGE: self.name, **recorder.span_attributes, **self._attributes}
            )
            self.span = span
            self._token = context.attach(trace.set_span_in_context(span))
            if request is not None and recorder.observers:
                _notify(recorder.observers, "on_stage_start", request, self.name, span)
        self._start = perf_counter_ns()
        return self

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Set an attribute on the stage span (nothing when the request is not sampled)."""
        if self.span is not None:
            self.span.set_attribute(key, value)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        end = perf_counter_ns()
        recorder, span = self._recorder, self.span
        if exc is not None:
            extra: dict[str, AttributeValue] | None = None
            if isinstance(exc, SpanError):
                error_type, extra = exc.error_type or type(exc).__qualname__, dict(exc.span_attributes())
            else:
                error_type = type(exc).__qualname__
            recorder.errors.point({ERROR_TYPE: error_type, ML_STAGE: self.name}).add(1)
            if span is not None:
                span.set_attribute(ERROR_TYPE, error_type)
                span.set_status(StatusCode.ERROR, f"{self.name} failed: {error_type}")
                span.record_exception(exc, attributes=extra, escaped=True)
        request = self._request
        if span is not None and request is not None and recorder.observers:
            _notify(recorder.observers, "on_stage_end", request, self.name, span)
        point = recorder.duration.point_of(_STAGE_ATTRIBUTES, (self.name,))
        point.record((end - self._start) / 1e9, span.get_span_context() if span is not None else None)
        if request is not None:
            request.stage_ms[self.name] = (end - self._start) / 1e6
        if span is not None:
            if self._token is not None:
                context.detach(self._token)
            span.end()


def _notify(observers: list[StageObserver], method: str, *args: Any) -> None:
    for observer in observers:
        try:
            getattr(observer, method)(*args)
        except Exception:  # an observer (the profiler) must never break the request
            logging.getLogger(__name__).debug("stage observer %s failed", method, exc_info=True)


class NoopStage:
    """What ``stage()`` returns outside an instrumented request: does nothing."""

    span = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        """Nothing to set."""


NOOP_STAGE: Final = NoopStage()


def stage(name: str, **attributes: AttributeValue) -> Stage | NoopStage:
    """A stage ``name`` of the current request, as a context manager, with extra span ``attributes``.

    Inside a request handled by ``otel.instrument``: a child span of the server span (sampled requests
    only), a ``ml.stage.duration`` point with that span as exemplar and, on an exception, ``error.type``,
    an exception event and ``ml.errors``; the exception propagates. Elsewhere a shared no-op.
    """
    request = current_request()
    if request is None:
        return NOOP_STAGE
    return Stage(request.recorder, request, name, attributes)

"""Stage spans and stage durations: ``with stage("feature_engineering"): ...``.

Inside a request handled by ``instrument_app``, ``stage(name)`` opens a child span of the
server span, records ``ml.stage.duration`` with that span as the point's exemplar, and on an exception marks the span ERROR with
``error.type`` and an exception event, counts ``ml.errors``, and re-raises.

It is built for the hot path: an unsampled request gets no span at all (only the histogram
record), and with telemetry disabled ``stage()`` returns a shared no-op object.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from time import perf_counter_ns
from types import TracebackType
from typing import Any, Protocol, Self

from opentelemetry import context, trace
from opentelemetry.trace import Span, StatusCode
from opentelemetry.util.types import AttributeValue

from otel.attributes import ERROR_TYPE, LATENCY_BUCKETS_S, ML_STAGE
from otel.setup import Telemetry


class StageObserver(Protocol):
    """Sees every stage of a recorded request start, on the thread that runs it, and end before its span closes.

    The profiler uses this to attach a stage's hot functions to the stage's own span. Unrecorded
    requests skip observers: what an observer adds needs a span to carry it, and 90 % of production
    requests should pay nothing for it.
    """

    def on_stage_start(self, request: RequestState, name: str, span: Span | None) -> None: ...

    def on_stage_end(self, request: RequestState, name: str, span: Span | None, start_ns: int, end_ns: int) -> None: ...


@dataclass(slots=True)
class RequestState:
    """What one request's telemetry accumulates: stage timings, figures for its log record."""

    recorder: StageRecorder
    server_span: Span
    sampled: bool = False
    start_ns: int = field(default_factory=perf_counter_ns)
    stage_ms: dict[str, float] = field(default_factory=dict)
    log_attributes: dict[str, AttributeValue] = field(default_factory=dict)
    notable: bool = False  # set by a hook (e.g. the profiler) to give the request a log record under REQUEST_LOG=notable
    extras: dict[str, Any] = field(default_factory=dict)


_current_request: ContextVar[RequestState | None] = ContextVar("otel_ml_request", default=None)
_STAGE_ATTRIBUTES = (ML_STAGE,)  # the names of ml.stage.duration's attributes, for ``point_of``


def current_request() -> RequestState | None:
    return _current_request.get()


class StageRecorder:
    """Stage spans and the ``ml.stage.duration`` / ``ml.errors`` instruments of one ``Telemetry``."""

    def __init__(self, telemetry: Telemetry, span_attributes: Mapping[str, AttributeValue] | None = None) -> None:
        assert telemetry.fast_metrics is not None and telemetry.spans is not None, "stage recording needs enabled telemetry"
        self.tracer = telemetry.spans
        self.fast = telemetry.fast_metrics
        self.duration = self.fast.histogram(
            "ml.stage.duration", "s", "Duration of one pipeline stage of a request.", LATENCY_BUCKETS_S
        )
        self.errors = self.fast.counter("ml.errors", "{error}", "Failed pipeline stages, by error type.")
        self.span_attributes: dict[str, AttributeValue] = dict(span_attributes or {})
        self.observers: list[StageObserver] = []
        self.request_hooks: list[Any] = []  # otel.middleware.RequestHook

    def stage(self, name: str, request: RequestState | None = None, **attributes: AttributeValue) -> Stage:
        return Stage(self, request, name, attributes)


class Stage:
    """One running stage; use as a context manager. ``set_attribute`` is a no-op when unsampled."""

    __slots__ = ("_attributes", "_recorder", "_request", "_start", "_token", "name", "span")

    def __init__(
        self, recorder: StageRecorder, request: RequestState | None, name: str, attributes: dict[str, AttributeValue]
    ) -> None:
        self._recorder, self._request, self.name, self._attributes = recorder, request, name, attributes
        self.span: Span | None = None
        self._token: object | None = None
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
        if self.span is not None:
            self.span.set_attribute(key, value)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        end = perf_counter_ns()
        recorder, span = self._recorder, self.span
        if exc is not None:
            error_type = getattr(exc, "error_type", None) or type(exc).__qualname__
            recorder.errors.point({ERROR_TYPE: error_type, ML_STAGE: self.name}).add(1)
            if span is not None:
                span.set_attribute(ERROR_TYPE, error_type)
                span.set_status(StatusCode.ERROR, f"{self.name} failed: {error_type}")
                span.record_exception(exc, attributes=_exception_attributes(exc), escaped=True)
        request = self._request
        if span is not None and request is not None and recorder.observers:
            _notify(recorder.observers, "on_stage_end", request, self.name, span, self._start, end)
        point = recorder.duration.point_of(_STAGE_ATTRIBUTES, (self.name,))
        point.record((end - self._start) / 1e9, span.get_span_context() if span is not None else None)
        if request is not None:
            request.stage_ms[self.name] = (end - self._start) / 1e6
        if span is not None:
            context.detach(self._token)  # type: ignore[arg-type]
            span.end()


def _notify(observers: list[StageObserver], method: str, *args: Any) -> None:
    for observer in observers:
        try:
            getattr(observer, method)(*args)
        except Exception:  # an observer (the profiler) must never break the request
            logging.getLogger(__name__).debug("stage observer %s failed", method, exc_info=True)


def _exception_attributes(exc: BaseException) -> dict[str, AttributeValue]:
    """Extra attributes an error offers about itself (e.g. which fields failed, never their values)."""
    extra = getattr(exc, "span_attributes", None)
    return dict(extra()) if callable(extra) else {}


class _NoopStage:
    span = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        return None


NOOP_STAGE = _NoopStage()


def stage(name: str, **attributes: AttributeValue) -> Stage | _NoopStage:
    """A stage of the current request; a shared no-op outside ``instrument_app`` or when disabled."""
    request = _current_request.get()
    if request is None:
        return NOOP_STAGE
    return Stage(request.recorder, request, name, attributes)

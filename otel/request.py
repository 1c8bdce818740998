"""What one request's telemetry holds while it runs, and who may act on it.

``instrument`` (``otel.middleware``) makes a ``RequestState`` per request and makes it current for the
request's duration (``enter_request``/``exit_request``); code running inside the request reads it with
``current_request()`` (``stage()`` does). ``StageRecorder`` is what every request of one app records
with; request hooks and stage observers (the profiler) register on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any, Protocol

from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from otel.attributes import LATENCY_BUCKETS_S
from otel.setup import Telemetry
from otel.spans import SpanTracer

__all__ = ["RequestHook", "RequestState", "StageObserver", "StageRecorder", "current_request", "enter_request", "exit_request"]


class StageObserver(Protocol):
    """Sees every stage of a recorded request start, on the thread that runs it, and end before its span closes.

    The profiler uses this to attach a stage's hot functions to the stage's own span. Unrecorded
    requests skip observers: what an observer adds needs a span to carry it.
    """

    def on_stage_start(self, request: RequestState, name: str, span: Span | None) -> None:
        """Stage ``name`` of ``request`` starts; ``span`` is its span."""

    def on_stage_end(self, request: RequestState, name: str, span: Span | None) -> None:
        """Stage ``name`` of ``request`` ends; ``span`` is still open."""


class RequestHook(Protocol):
    """Acts at the start of a recorded request and just before its last body chunk is sent (unrecorded ones skip it)."""

    def on_request_start(self, request: RequestState) -> None:
        """``request`` starts; its server span is open."""

    def on_response_end(self, request: RequestState, status_code: int) -> None:
        """``request``'s response is about to end with ``status_code``; its server span is still open."""


class StageRecorder:
    """Stage spans and the ``ml.stage.duration`` / ``ml.errors`` instruments of one ``Telemetry``.

    Takes enabled telemetry and the attributes every stage span carries; ``observers`` and
    ``request_hooks`` are lists to register ``StageObserver``s and ``RequestHook``s on.
    """

    def __init__(self, telemetry: Telemetry, span_attributes: Mapping[str, AttributeValue] | None = None) -> None:
        assert telemetry.fast_metrics is not None and telemetry.tracer is not None, "stage recording needs enabled telemetry"
        self.tracer: SpanTracer = telemetry.tracer
        self.fast = telemetry.fast_metrics
        self.duration = self.fast.histogram(
            "ml.stage.duration", "s", "Duration of one pipeline stage of a request.", LATENCY_BUCKETS_S
        )
        self.errors = self.fast.counter("ml.errors", "{error}", "Failed pipeline stages, by error type.")
        self.span_attributes: dict[str, AttributeValue] = dict(span_attributes or {})
        self.observers: list[StageObserver] = []
        self.request_hooks: list[RequestHook] = []


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


_current: ContextVar[RequestState | None] = ContextVar("otel_request", default=None)


def current_request() -> RequestState | None:
    """The ``RequestState`` of the request this code runs in, or None outside an instrumented request."""
    return _current.get()


def enter_request(request: RequestState) -> Token[RequestState | None]:
    """Make ``request`` current; returns the token ``exit_request`` takes."""
    return _current.set(request)


def exit_request(token: Token[RequestState | None]) -> None:
    """Restore what was current before ``enter_request`` returned ``token``."""
    _current.reset(token)

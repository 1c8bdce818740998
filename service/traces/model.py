"""The normalised trace model every source produces: spans with their hot functions, traces, log records.

A span's hot functions are ``otel.hot_functions.HotFunction``, the same finished result the profiler attached.

Sources (OTLP/JSON files, Jaeger's query API, Elasticsearch documents) differ in shape; once read,
a trace is the same ``Trace`` whichever backend it came from, so the records, the table and the
waterfall are computed once.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from otel.attributes import HTTP_ROUTE, ML_STAGE
from otel.hot_functions import HotFunction

SERVER: Final = "server"
STAGES: Final = ("validation", "feature_engineering", "onnx_inference", "serialization")
"""The pipeline's stage spans, in the order a request runs them (also the ``stage_ms_<stage>`` columns)."""


class TracesError(Exception):
    """Anything the command reports as one line on stderr: the message names what is wrong and where."""


class SourceUnavailable(TracesError):
    """A source cannot be read at all: a missing directory, an unreachable Jaeger or Elasticsearch."""


class UnknownTrace(TracesError):
    """The source has no span of the requested trace id."""


def location(hot: HotFunction) -> str:
    """A hot function's ``file:line``, the way an editor opens it."""
    return f"{hot.file}:{hot.line}" if hot.file else ""


@dataclass(slots=True)
class Span:
    """One span: ids in lowercase hex, times in Unix nanoseconds, attributes and resource as plain dicts."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    error: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    hot_functions: list[HotFunction] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def stage(self) -> str | None:
        """The pipeline stage this span times, if it is a stage span."""
        value = self.attributes.get(ML_STAGE)
        return str(value) if value is not None else (self.name if self.name in STAGES else None)


@dataclass(slots=True)
class LogRecord:
    """One log record correlated with a trace (body as text, attributes as a dict)."""

    time_ns: int
    severity: str
    body: str
    trace_id: str
    span_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Trace:
    """The spans of one trace id (any order); ``server`` is its HTTP server span, if recorded."""

    trace_id: str
    spans: list[Span] = field(default_factory=list)

    @property
    def server(self) -> Span | None:
        servers = [s for s in self.spans if s.kind == SERVER]
        if not servers:
            return None
        return min(servers, key=lambda s: (s.parent_id is not None, s.start_ns))

    def children(self, parent: Span) -> list[Span]:
        """Direct children of ``parent``, in start order."""
        return sorted((s for s in self.spans if s.parent_id == parent.span_id), key=lambda s: s.start_ns)


def normalise_id(value: str | None, size: int) -> str | None:
    """An id as lowercase hex of ``size`` bytes: hex as OTLP/JSON writes it, or base64 (protobuf's plain JSON mapping).

    Empty and all-zero ids are ``None`` (OTLP's "no parent").
    """
    if not value:
        return None
    text = value.strip()
    if len(text) == size * 2:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if raw:
            return None if not any(raw) else raw.hex()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == size:
        return None if not any(raw) else raw.hex()
    if len(text) < size * 2 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower().rjust(size * 2, "0")  # Jaeger drops leading zeros of a trace id
    return text.lower()


@dataclass(frozen=True, slots=True)
class Query:
    """Which recorded requests to read: started at or after ``since_ns``, on ``route``, of ``service``; all when ``None``.

    ``limit`` with ``slowest`` lets a source that can sort (Elasticsearch) return only the slowest ``limit``.
    """

    since_ns: int | None = None
    route: str | None = None
    service: str | None = None
    limit: int | None = None
    slowest: bool = False

    def matches(self, server: Span) -> bool:
        """Does this server span pass the time and route filters?"""
        if self.since_ns is not None and server.start_ns < self.since_ns:
            return False
        return self.route is None or server.attributes.get(HTTP_ROUTE) == self.route


class TraceSource(Protocol):
    """Where traces come from. Every method raises ``TracesError`` subclasses only."""

    description: str

    def requests(self, query: Query) -> list[Trace]:
        """Traces whose server span matches ``query``, each with all its spans."""
        ...

    def trace(self, trace_id: str) -> Trace:
        """Every span of one trace; ``UnknownTrace`` when there is none."""
        ...

    def logs(self, trace_id: str) -> list[LogRecord] | None:
        """The log records of one trace in time order; ``None`` when this source holds no logs."""
        ...

    def warnings(self) -> list[str]:
        """What was skipped while reading (malformed lines), one line each; empty when nothing was."""
        ...

"""One performance record per recorded request (per sampled server span): the rows of ``slowest`` and ``export``.

The columns, in order, with their types (``COLUMNS``), are the export's schema::

    trace_id, span_id (str) · start_time (timestamp, UTC) · route, method (str) · status (int)
    latency_ms (float) · stage_ms_<stage> (float) for validation, feature_engineering, onnx_inference, serialization
    cpu_time_ms, rss_mb, memory_delta_mb (float; only on profiled requests) · profile_trigger (str: sampled, slow)
    hot_<i>_function, hot_<i>_location (str, file:line), hot_<i>_self_ms (float) for i = 1..top
    error_type (str) · model_version, service_instance_id (str)

A figure the request did not record (an unprofiled request's CPU time, a stage it never reached) is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from otel.attributes import ERROR_TYPE, HTTP_METHOD, HTTP_ROUTE, HTTP_STATUS
from otel.hot_functions import PROFILE_TRIGGER, HotFunction
from otel.profiling import CPU_TIME_MS, RSS_DELTA_MB, RSS_MB
from service.telemetry import ML_MODEL_VERSION
from service.traces.model import STAGES, Trace, location

SERVICE_INSTANCE_ID: Final = "service.instance.id"
DEFAULT_TOP: Final = 3


@dataclass(slots=True)
class RequestRecord:
    """The figures of one request, read from its server span, its stage spans and their hot functions."""

    trace_id: str
    span_id: str
    start_time: datetime
    route: str | None
    method: str | None
    status: int | None
    latency_ms: float
    stage_ms: dict[str, float | None]
    cpu_time_ms: float | None
    rss_mb: float | None
    memory_delta_mb: float | None
    profile_trigger: str | None
    hot_functions: list[HotFunction]
    error_type: str | None
    model_version: str | None
    service_instance_id: str | None = None

    def row(self, top: int = DEFAULT_TOP) -> dict[str, Any]:
        """The record as one flat row in ``columns(top)`` order."""
        out: dict[str, Any] = {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "start_time": self.start_time,
            "route": self.route,
            "method": self.method,
            "status": self.status,
            "latency_ms": self.latency_ms,
        }
        out.update({f"stage_ms_{stage}": self.stage_ms.get(stage) for stage in STAGES})
        out.update(cpu_time_ms=self.cpu_time_ms, rss_mb=self.rss_mb, memory_delta_mb=self.memory_delta_mb)
        out["profile_trigger"] = self.profile_trigger
        for i in range(1, top + 1):
            hot = self.hot_functions[i - 1] if i <= len(self.hot_functions) else None
            out[f"hot_{i}_function"] = hot.name if hot else None
            out[f"hot_{i}_location"] = location(hot) if hot else None
            out[f"hot_{i}_self_ms"] = hot.self_ms if hot else None
        out.update(error_type=self.error_type, model_version=self.model_version, service_instance_id=self.service_instance_id)
        return out


def columns(top: int = DEFAULT_TOP) -> list[tuple[str, str]]:
    """``(name, type)`` of every column, type one of ``str``, ``int``, ``float``, ``timestamp``."""
    cols = [("trace_id", "str"), ("span_id", "str"), ("start_time", "timestamp"), ("route", "str"), ("method", "str")]
    cols += [("status", "int"), ("latency_ms", "float")]
    cols += [(f"stage_ms_{stage}", "float") for stage in STAGES]
    cols += [("cpu_time_ms", "float"), ("rss_mb", "float"), ("memory_delta_mb", "float"), ("profile_trigger", "str")]
    for i in range(1, top + 1):
        cols += [(f"hot_{i}_function", "str"), (f"hot_{i}_location", "str"), (f"hot_{i}_self_ms", "float")]
    cols += [("error_type", "str"), ("model_version", "str"), ("service_instance_id", "str")]
    return cols


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def record(trace: Trace) -> RequestRecord | None:
    """The request record of a trace, or ``None`` when the trace has no server span."""
    server = trace.server
    if server is None:
        return None
    stage_ms: dict[str, float | None] = dict.fromkeys(STAGES)
    for child in trace.children(server):
        if (stage := child.stage) is not None:
            stage_ms[stage] = round((stage_ms.get(stage) or 0.0) + child.duration_ms, 3)
    attrs = server.attributes
    return RequestRecord(
        trace_id=server.trace_id,
        span_id=server.span_id,
        start_time=datetime.fromtimestamp(server.start_ns / 1e9, tz=UTC),
        route=_str(attrs.get(HTTP_ROUTE)),
        method=_str(attrs.get(HTTP_METHOD)),
        status=_int(attrs.get(HTTP_STATUS)),
        latency_ms=round(server.duration_ms, 3),
        stage_ms=stage_ms,
        cpu_time_ms=_float(attrs.get(CPU_TIME_MS)),
        rss_mb=_float(attrs.get(RSS_MB)),
        memory_delta_mb=_float(attrs.get(RSS_DELTA_MB)),
        profile_trigger=_str(attrs.get(PROFILE_TRIGGER)),
        hot_functions=list(server.hot_functions),
        error_type=_str(attrs.get(ERROR_TYPE)),
        model_version=_str(server.resource.get(ML_MODEL_VERSION, attrs.get(ML_MODEL_VERSION))),
        service_instance_id=_str(server.resource.get(SERVICE_INSTANCE_ID)),
    )


def records(traces: list[Trace]) -> list[RequestRecord]:
    """The record of every trace that has a server span, oldest first."""
    found = [r for t in traces if (r := record(t)) is not None]
    return sorted(found, key=lambda r: r.start_time)


def slowest(found: list[RequestRecord], limit: int) -> list[RequestRecord]:
    """The ``limit`` slowest records, slowest first."""
    return sorted(found, key=lambda r: -r.latency_ms)[: max(limit, 0)]

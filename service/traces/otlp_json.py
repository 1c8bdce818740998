"""Decode OTLP/JSON (one ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` per line) into the model.

Follows the OTLP/JSON rules, not one writer's habits: field names in lowerCamelCase or their
original snake_case (proto3 JSON accepts both), 64-bit integers as strings or numbers, enums as
integers or their names, trace and span ids in hex (with base64 also accepted, as a plain protobuf
JSON encoder would write them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from otel.hot_functions import (
    CODE_FILE,
    CODE_FUNCTION,
    CODE_LINE,
    HOT_FUNCTION_EVENT,
    PROFILE_RANK,
    PROFILE_SAMPLES,
    PROFILE_SELF_MS,
    PROFILE_TOTAL_MS,
    HotFunction,
)
from service.traces.model import LogRecord, Span, normalise_id

_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS_ERROR = (2, "STATUS_CODE_ERROR")


def _field(node: Mapping[str, Any], camel: str, default: Any = None) -> Any:
    """``node[camel]``, or its snake_case spelling."""
    if camel in node:
        return node[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return node.get(snake, default)


def any_value(value: Mapping[str, Any] | None) -> Any:
    """An OTLP ``AnyValue`` as a Python value (ints from their string form, arrays as lists, kvlists as dicts)."""
    if not value:
        return None
    for key in (
        "stringValue",
        "string_value",
        "boolValue",
        "bool_value",
        "doubleValue",
        "double_value",
        "bytesValue",
        "bytes_value",
    ):
        if key in value:
            return value[key]
    for key in ("intValue", "int_value"):
        if key in value:
            return int(value[key])
    array = _field(value, "arrayValue")
    if array is not None:
        return [any_value(item) for item in array.get("values", [])]
    kvlist = _field(value, "kvlistValue")
    if kvlist is not None:
        return attributes(kvlist.get("values", []))
    return None


def attributes(items: list[Mapping[str, Any]] | None) -> dict[str, Any]:
    """An OTLP ``KeyValue`` list as a dict."""
    return {item["key"]: any_value(item.get("value")) for item in items or () if "key" in item}


def hot_function(attrs: Mapping[str, Any]) -> HotFunction:
    """A ``profile.hot_function`` event's attributes as a ``HotFunction`` (missing figures are zero)."""
    return HotFunction(
        name=str(attrs.get(CODE_FUNCTION, "")),
        file=str(attrs.get(CODE_FILE, "")),
        line=int(attrs.get(CODE_LINE) or 0),
        rank=int(attrs.get(PROFILE_RANK) or 0),
        self_ms=float(attrs.get(PROFILE_SELF_MS) or 0.0),
        total_ms=float(attrs.get(PROFILE_TOTAL_MS) or 0.0),
        samples=int(attrs.get(PROFILE_SAMPLES) or 0),
    )


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return value.removeprefix("SPAN_KIND_").lower()
    return _KINDS.get(int(value or 0), "unspecified")


def _span(node: Mapping[str, Any], resource: dict[str, Any]) -> Span:
    hot = [
        hot_function(attributes(_field(event, "attributes")))
        for event in _field(node, "events", []) or ()
        if event.get("name") == HOT_FUNCTION_EVENT
    ]
    status = _field(node, "status", {}) or {}
    return Span(
        trace_id=normalise_id(_field(node, "traceId"), 16) or "",
        span_id=normalise_id(_field(node, "spanId"), 8) or "",
        parent_id=normalise_id(_field(node, "parentSpanId"), 8),
        name=str(node.get("name", "")),
        kind=_kind(_field(node, "kind")),
        start_ns=int(_field(node, "startTimeUnixNano", 0)),
        end_ns=int(_field(node, "endTimeUnixNano", 0)),
        error=status.get("code") in _STATUS_ERROR,
        attributes=attributes(_field(node, "attributes")),
        resource=resource,
        hot_functions=sorted(hot, key=lambda h: h.rank),
    )


def spans(request: Mapping[str, Any]) -> Iterator[Span]:
    """Every span of one ``ExportTraceServiceRequest``, each with its resource's attributes."""
    for resource_spans in _field(request, "resourceSpans", []) or ():
        resource = attributes((_field(resource_spans, "resource", {}) or {}).get("attributes"))
        for scope_spans in _field(resource_spans, "scopeSpans", []) or ():
            for node in scope_spans.get("spans", []) or ():
                yield _span(node, resource)


def log_records(request: Mapping[str, Any]) -> Iterator[LogRecord]:
    """Every log record of one ``ExportLogsServiceRequest`` that carries a trace id."""
    for resource_logs in _field(request, "resourceLogs", []) or ():
        for scope_logs in _field(resource_logs, "scopeLogs", []) or ():
            for node in _field(scope_logs, "logRecords", []) or ():
                trace_id = normalise_id(_field(node, "traceId"), 16)
                if trace_id is None:
                    continue
                time_ns = int(_field(node, "timeUnixNano", 0) or 0) or int(_field(node, "observedTimeUnixNano", 0) or 0)
                yield LogRecord(
                    time_ns=time_ns,
                    severity=str(_field(node, "severityText", "") or ""),
                    body=str(any_value(node.get("body")) or ""),
                    trace_id=trace_id,
                    span_id=normalise_id(_field(node, "spanId"), 8),
                    attributes=attributes(node.get("attributes")),
                )

"""Jaeger's query API as a trace source: ``/api/traces?service=...&limit=...`` and ``/api/traces/<id>``.

Jaeger's JSON model calls attributes *tags* and events *logs*; the resource is the trace's
*process* (its tags). It holds no log records, so ``logs`` returns ``None``. It lists the most recent
traces, not the slowest, so ``slowest`` sorts the newest ``max_traces`` traces (``--since`` narrows them).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

import httpx

from otel.hot_functions import HOT_FUNCTION_EVENT
from service.traces.http import request_json
from service.traces.model import LogRecord, Query, SourceUnavailable, Span, Trace, TracesError, UnknownTrace, normalise_id
from service.traces.otlp_json import hot_function

MAX_TRACES: Final = 1500
_DEFAULT_LOOKBACK_S: Final = 7 * 86400


def _tags(items: list[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: item.get("value") for item in items or () if "key" in item}


def _span(node: Mapping[str, Any], trace_id: str, processes: Mapping[str, Any]) -> Span:
    tags = _tags(node.get("tags"))
    kind = str(tags.pop("span.kind", "internal"))
    parents = [r.get("spanID") for r in node.get("references") or () if r.get("refType") == "CHILD_OF"]
    hot = []
    for log in node.get("logs") or ():
        fields = _tags(log.get("fields"))
        if fields.get("event") == HOT_FUNCTION_EVENT:
            hot.append(hot_function(fields))
    start_ns = int(node.get("startTime", 0)) * 1000
    process = processes.get(node.get("processID", ""), {}) or {}
    resource = {"service.name": process.get("serviceName"), **_tags(process.get("tags"))}
    return Span(
        trace_id=trace_id,
        span_id=normalise_id(node.get("spanID"), 8) or "",
        parent_id=normalise_id(parents[0], 8) if parents else None,
        name=str(node.get("operationName", "")),
        kind=kind,
        start_ns=start_ns,
        end_ns=start_ns + int(node.get("duration", 0)) * 1000,
        error=tags.get("otel.status_code") == "ERROR" or tags.get("error") is True,
        attributes=tags,
        resource=resource,
        hot_functions=sorted(hot, key=lambda h: h.rank),
    )


def parse_trace(raw: Mapping[str, Any]) -> Trace:
    """One trace of Jaeger's JSON model (``data[i]`` of ``/api/traces``) in the normalised model."""
    trace_id = normalise_id(raw.get("traceID"), 16) or ""
    processes = raw.get("processes") or {}
    return Trace(trace_id, [_span(node, trace_id, processes) for node in raw.get("spans") or ()])


class JaegerSource:
    """Reads traces of one service from a Jaeger query API."""

    def __init__(self, base_url: str, service: str, timeout_s: float = 10.0, max_traces: int = MAX_TRACES) -> None:
        self.base_url = base_url.rstrip("/")
        self.service = service
        self.max_traces = max_traces
        self.description = f"Jaeger {self.base_url} (service {service})"
        self._http = httpx.Client(timeout=timeout_s)

    def requests(self, query: Query) -> list[Trace]:
        now_us = int(time.time() * 1e6)
        start_us = query.since_ns // 1000 if query.since_ns is not None else now_us - _DEFAULT_LOOKBACK_S * 10**6
        params: dict[str, Any] = {"service": self.service, "limit": self.max_traces, "start": start_us, "end": now_us}
        status, body = request_json(self._http, "GET", f"{self.base_url}/api/traces", params=params)
        if status >= 400 or not isinstance(body, dict):
            raise SourceUnavailable(f"{self.base_url}/api/traces: HTTP {status} (service {self.service!r})")
        traces = [parse_trace(raw) for raw in body.get("data") or ()]
        return [t for t in traces if (server := t.server) is not None and query.matches(server)]

    def trace(self, trace_id: str) -> Trace:
        url = f"{self.base_url}/api/traces/{trace_id}"
        status, body = request_json(self._http, "GET", url)
        if status == 404:
            raise UnknownTrace(f"trace {trace_id}: not found in Jaeger {self.base_url}")
        if status >= 400 or not isinstance(body, dict):
            raise TracesError(f"{url}: HTTP {status}")
        data = body.get("data") or []
        if not data or not data[0].get("spans"):
            raise UnknownTrace(f"trace {trace_id}: not found in Jaeger {self.base_url}")
        return parse_trace(data[0])

    def logs(self, trace_id: str) -> list[LogRecord] | None:
        return None

    def warnings(self) -> list[str]:
        return []

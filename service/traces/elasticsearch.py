"""The Elasticsearch indices the Collector's ``elasticsearch`` exporter writes, as a trace source.

Documents are in the exporter's ``none`` mapping (collector-config/otel-collector.yaml): one per span
in the traces index (``@timestamp``, ``EndTimestamp``, ``TraceId``, ``SpanId``, ``ParentSpanId``,
``Name``, ``Kind``, ``TraceStatus``, ``Attributes.<name>``, ``Resource.<name>``,
``Events.<event name>.<attribute>``) and one per log record in the logs index (``TraceId``, ``SpanId``,
``SeverityText``, ``Body``, ``Attributes.<name>``). Keys may come back flat or nested; both are read.
Several events of one name on a span share their keys, and the exporter keeps the last value of a
repeated key: a span document holds only its last-ranked hot function (``profile.rank`` says which).
Values that do arrive as parallel lists are read as one hot function each. Jaeger and the files keep all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import httpx

from otel.hot_functions import HOT_FUNCTION_EVENT
from service.traces.http import request_json
from service.traces.model import LogRecord, Query, SourceUnavailable, Span, Trace, UnknownTrace, normalise_id
from service.traces.otlp_json import hot_function

DEFAULT_TRACES_INDEX: Final = "otel-traces"
DEFAULT_LOGS_INDEX: Final = "otel-logs"
MAX_HITS: Final = 10_000  # Elasticsearch's default result window
_EVENT_PREFIX: Final = f"Events.{HOT_FUNCTION_EVENT}."
_CHUNK: Final = 200


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A document with nested objects as flat dotted keys (already flat keys stay as they are)."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def timestamp_ns(value: Any) -> int:
    """An RFC 3339 timestamp with up to nanosecond digits (or epoch milliseconds) as Unix nanoseconds."""
    if isinstance(value, int | float):
        return int(value * 1_000_000)
    text = str(value)
    head, _, rest = text.partition(".")
    digits = "".join(c for c in rest if c.isdigit()) if rest else ""
    zone = rest[len(digits) :] if rest else ""
    whole = datetime.fromisoformat(head + zone)
    return int(whole.timestamp()) * 10**9 + int((digits + "000000000")[:9])


def _with_prefix(doc: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {key[len(prefix) :]: value for key, value in doc.items() if key.startswith(prefix)}


def _hot_functions(doc: Mapping[str, Any]) -> list[Any]:
    fields = {key: value for key, value in _with_prefix(doc, _EVENT_PREFIX).items() if key != "time"}
    if not fields:
        return []
    count = max(len(v) if isinstance(v, list) else 1 for v in fields.values())
    events = [
        {key: (v[i] if i < len(v) else None) if isinstance(v, list) else v for key, v in fields.items()} for i in range(count)
    ]
    return sorted((hot_function(e) for e in events), key=lambda h: h.rank)


def span_from_document(source: Mapping[str, Any]) -> Span:
    """One span document (``none`` mapping) in the normalised model."""
    doc = flatten(source)
    start_ns = timestamp_ns(doc["@timestamp"])
    end_ns = timestamp_ns(doc["EndTimestamp"]) if doc.get("EndTimestamp") else start_ns + int(doc.get("Duration", 0)) * 1000
    return Span(
        trace_id=normalise_id(doc.get("TraceId"), 16) or "",
        span_id=normalise_id(doc.get("SpanId"), 8) or "",
        parent_id=normalise_id(doc.get("ParentSpanId"), 8),
        name=str(doc.get("Name", "")),
        kind=str(doc.get("Kind", "")).removeprefix("SPAN_KIND_").lower(),
        start_ns=start_ns,
        end_ns=end_ns,
        error=doc.get("TraceStatus") == 2,
        attributes=_with_prefix(doc, "Attributes."),
        resource=_with_prefix(doc, "Resource."),
        hot_functions=_hot_functions(doc),
    )


def log_from_document(source: Mapping[str, Any]) -> LogRecord:
    """One log document in the normalised model."""
    doc = flatten(source)
    return LogRecord(
        time_ns=timestamp_ns(doc["@timestamp"]),
        severity=str(doc.get("SeverityText", "")),
        body=str(doc.get("Body", "")),
        trace_id=normalise_id(doc.get("TraceId"), 16) or "",
        span_id=normalise_id(doc.get("SpanId"), 8),
        attributes=_with_prefix(doc, "Attributes."),
    )


class ElasticsearchSource:
    """Reads spans and log records from the Collector's Elasticsearch indices."""

    def __init__(
        self,
        base_url: str,
        traces_index: str = DEFAULT_TRACES_INDEX,
        logs_index: str = DEFAULT_LOGS_INDEX,
        service: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.traces_index = traces_index
        self.logs_index = logs_index
        self.service = service
        self.description = f"Elasticsearch {self.base_url}/{traces_index}" + (f" (service {service})" if service else "")
        self._http = httpx.Client(timeout=timeout_s)
        self._warnings: list[str] = []

    def _search(self, index: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], int] | None:
        """``(hits' _source, total)``, or ``None`` when the index does not exist."""
        url = f"{self.base_url}/{index}/_search"
        status, answer = request_json(self._http, "POST", url, json={**body, "track_total_hits": True})
        if status == 404:
            return None
        if status >= 400 or not isinstance(answer, dict):
            raise SourceUnavailable(f"{url}: HTTP {status}")
        hits = answer.get("hits") or {}
        total = hits.get("total", {})
        return [h.get("_source", {}) for h in hits.get("hits", [])], int(
            total.get("value", 0) if isinstance(total, dict) else total
        )

    def _spans(self, filters: list[dict[str, Any]], size: int, sort: list[Any] | None = None) -> list[Span]:
        body: dict[str, Any] = {"query": {"bool": {"filter": filters}}, "size": size}
        if sort:
            body["sort"] = sort
        found = self._search(self.traces_index, body)
        if found is None:
            raise SourceUnavailable(
                f"{self.base_url}/{self.traces_index}: no such index (has the Collector exported any trace yet?)"
            )
        docs, total = found
        if total > len(docs) and not sort:
            self._warnings.append(f"read only {len(docs)} of {total} spans from {self.traces_index}")
        return [span_from_document(d) for d in docs]

    def requests(self, query: Query) -> list[Trace]:
        filters: list[dict[str, Any]] = [{"match": {"Kind": "SPAN_KIND_SERVER"}}]
        if query.since_ns is not None:
            filters.append({"range": {"@timestamp": {"gte": query.since_ns // 1_000_000, "format": "epoch_millis"}}})
        if query.route:
            filters.append({"match_phrase": {"Attributes.http.route": query.route}})
        if self.service:
            filters.append({"match_phrase": {"Resource.service.name": self.service}})
        size = min(query.limit, MAX_HITS) if query.slowest and query.limit else MAX_HITS
        servers = self._spans(filters, size, sort=[{"Duration": "desc"}] if query.slowest else None)
        servers = [
            s for s in servers if query.matches(s) and (self.service is None or s.resource.get("service.name") == self.service)
        ]
        by_trace = {s.trace_id: Trace(s.trace_id, [s]) for s in servers}
        for chunk in _chunks(list(by_trace), _CHUNK):
            for span in self._spans([{"terms": {"TraceId": chunk}}], MAX_HITS):
                trace = by_trace.get(span.trace_id)
                if trace is not None and all(span.span_id != s.span_id for s in trace.spans):
                    trace.spans.append(span)
        return list(by_trace.values())

    def trace(self, trace_id: str) -> Trace:
        spans = self._spans([{"term": {"TraceId": trace_id}}], MAX_HITS)
        if not spans:
            raise UnknownTrace(f"trace {trace_id}: not found in {self.base_url}/{self.traces_index}")
        return Trace(trace_id, spans)

    def logs(self, trace_id: str) -> list[LogRecord]:
        found = self._search(self.logs_index, {"query": {"term": {"TraceId": trace_id}}, "size": 1000})
        records = [log_from_document(d) for d in found[0]] if found else []
        return sorted(records, key=lambda r: r.time_ns)

    def warnings(self) -> list[str]:
        return list(self._warnings)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

"""Small typed clients for the backends' own HTTP APIs (Jaeger, Prometheus, Elasticsearch).

The end-to-end tests assert only through these, i.e. through what Grafana and an operator
would read. ``poll`` replaces fixed sleeps: every wait has a deadline and says what it waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

JAEGER_URL = "http://127.0.0.1:16686"
PROMETHEUS_URL = "http://127.0.0.1:9090"
ELASTICSEARCH_URL = "http://127.0.0.1:9200"


def poll(probe: Callable[[], T | None], *, timeout_s: float, what: str, interval_s: float = 1.0) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout_s`` naming ``what`` and the last result."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            last = probe()
        except httpx.HTTPError as exc:  # a backend briefly unreachable (e.g. during a restart) is retried
            last = exc
        else:
            if last:
                return last  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last result: {last!r:.2000}")
        time.sleep(interval_s)


# --- Jaeger (query API, JSON model: span events are "logs", attributes are "tags") ---


@dataclass(frozen=True)
class SpanEvent:
    name: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class JaegerSpan:
    span_id: str
    name: str
    parent_id: str | None
    service: str
    tags: dict[str, Any]
    events: list[SpanEvent]
    duration_us: int

    @property
    def kind(self) -> str | None:
        return self.tags.get("span.kind")

    def events_named(self, name: str) -> list[SpanEvent]:
        return [e for e in self.events if e.name == name]


@dataclass(frozen=True)
class JaegerTrace:
    trace_id: str
    spans: list[JaegerSpan]

    def named(self, name: str) -> list[JaegerSpan]:
        return [s for s in self.spans if s.name == name]

    def one(self, name: str) -> JaegerSpan:
        found = self.named(name)
        assert len(found) == 1, f"trace {self.trace_id}: expected one span {name!r}, got {[s.name for s in self.spans]}"
        return found[0]


def _kv(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: item["value"] for item in items}


def _parse_trace(raw: Mapping[str, Any]) -> JaegerTrace:
    processes = {pid: p["serviceName"] for pid, p in raw.get("processes", {}).items()}
    spans = []
    for s in raw["spans"]:
        parents = [r["spanID"] for r in s.get("references", []) if r.get("refType") == "CHILD_OF"]
        events = []
        for log in s.get("logs", []):
            fields = _kv(log.get("fields", []))
            events.append(SpanEvent(str(fields.pop("event", "")), fields))
        spans.append(
            JaegerSpan(
                span_id=s["spanID"],
                name=s["operationName"],
                parent_id=parents[0] if parents else None,
                service=processes.get(s.get("processID", ""), ""),
                tags=_kv(s.get("tags", [])),
                events=events,
                duration_us=int(s.get("duration", 0)),
            )
        )
    return JaegerTrace(raw["traceID"], spans)


class Jaeger:
    def __init__(self, base_url: str = JAEGER_URL, client: httpx.Client | None = None) -> None:
        self.base_url = base_url
        self.http = client or httpx.Client(timeout=10.0)

    def trace(self, trace_id: str) -> JaegerTrace | None:
        """``GET /api/traces/<id>``; ``None`` while Jaeger does not know the trace (404)."""
        response = self.http.get(f"{self.base_url}/api/traces/{trace_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data = response.json().get("data") or []
        return _parse_trace(data[0]) if data else None

    def services(self) -> list[str]:
        response = self.http.get(f"{self.base_url}/api/services")
        response.raise_for_status()
        return list(response.json().get("data") or [])


# --- Prometheus HTTP API ---


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Exemplar:
    series: dict[str, str]
    labels: dict[str, str]
    value: float
    timestamp: float


@dataclass(frozen=True)
class Alert:
    name: str
    state: str  # pending | firing
    labels: dict[str, str]
    value: str = ""


@dataclass
class Prometheus:
    base_url: str = PROMETHEUS_URL
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = self.http.get(f"{self.base_url}{path}", params=params)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise PromQLError(f"{path} {dict(params or {})}: HTTP {response.status_code} {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """Instant query; a scalar or string result becomes one unlabelled sample."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self._get("/api/v1/query", params)
        if data["resultType"] in ("scalar", "string"):
            return [Sample({}, float(data["result"][1]))]
        if data["resultType"] == "matrix":
            return [Sample(r["metric"], float(r["values"][-1][1])) for r in data["result"] if r["values"]]
        return [Sample(r["metric"], float(r["value"][1])) for r in data["result"]]

    def exemplars(self, expr: str, start: float, end: float) -> list[Exemplar]:
        data = self._get("/api/v1/query_exemplars", {"query": expr, "start": start, "end": end})
        return [
            Exemplar(group["seriesLabels"], e["labels"], float(e["value"]), float(e["timestamp"]))
            for group in data or []
            for e in group.get("exemplars", [])
        ]

    def alerts(self) -> list[Alert]:
        data = self._get("/api/v1/alerts")
        return [Alert(a["labels"]["alertname"], a["state"], a["labels"], a.get("value", "")) for a in data["alerts"]]

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule (each dict as the API gives it, plus ``file`` and ``group``)."""
        data = self._get("/api/v1/rules")
        return [{**r, "file": g["file"], "group": g["name"]} for g in data["groups"] for r in g["rules"]]

    def reload(self) -> None:
        self.http.post(f"{self.base_url}/-/reload").raise_for_status()

    def slowest_rule_interval_s(self) -> float:
        """A recorded series appears, and follows new data, only as often as its group runs (2 min for some drift groups)."""
        return max((float(g["interval"]) for g in self._get("/api/v1/rules")["groups"]), default=0.0)

    def wait_until_rules_evaluated(self) -> None:
        """Every rule group has run once: a freshly started Prometheus has no recorded series before that."""

        def pending() -> list[str]:
            return [g["name"] for g in self._get("/api/v1/rules")["groups"] if g["lastEvaluation"].startswith("0001-")]

        poll(
            lambda: not pending() or None,
            timeout_s=self.slowest_rule_interval_s() + 60,
            what="every rule group to run once",
            interval_s=2.0,
        )


class PromQLError(AssertionError):
    """Prometheus rejected a query (bad PromQL, unknown function, ...)."""


# --- Elasticsearch ---


@dataclass
class Elasticsearch:
    base_url: str = ELASTICSEARCH_URL
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))

    def search(self, index: str, query: Mapping[str, Any], size: int = 100) -> list[dict[str, Any]]:
        """``POST /<index>/_search``; the ``_source`` of each hit (none while the index does not exist)."""
        response = self.http.post(f"{self.base_url}/{index}/_search", json={"query": query, "size": size})
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return [hit["_source"] for hit in response.json()["hits"]["hits"]]

    def lucene(self, index: str, query: str, size: int = 100) -> list[dict[str, Any]]:
        """A Lucene query string, as Grafana's Elasticsearch datasource sends it."""
        return self.search(index, {"query_string": {"query": query}}, size)

"""Every query of the provisioned Grafana dashboards and datasource links returns data from the real backends.

Queries are sent the way Grafana would send them: macros become durations, ``$job`` (multi-value,
"All" = regex) becomes a regex over this run's services, ``$service`` (single value) the failing
service, ``$__tags`` the span's ``service_name``. Grafana itself is not started: its queries are
plain PromQL and Lucene, and the backends are what answer them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import promql_parser as pp
import pytest

from tests.config.exprs import DASHBOARD_FILES, all_panels, load_dashboard, load_datasources
from tests.config.pipeline_metrics import SERIES
from tests.config.promql_labels import parse, walk
from tests.e2e.backends import Elasticsearch, Prometheus, poll
from tests.e2e.collector import CollectorSettings
from tests.e2e.conftest import E2ERun

pytestmark = pytest.mark.e2e

TIMEOUT_S = 90
_MACROS = {"__rate_interval": "1m", "__interval": "30s", "__range": "1h"}
# Failures this run provokes on purpose (5xx answers, failed inference, firing alerts): panels that
# read these must show data even where they select only the failures.
PROVOKED = frozenset({"ml_errors_total", "ALERTS"})
PROVOKED_PREFIXES = ("http_server_request_duration_seconds", "traces_span_metrics_")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*(?P<label>\w+)\s*\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class PanelQuery:
    where: str
    dashboard: Path
    datasource: str  # prometheus | elasticsearch
    query: str


@dataclass(frozen=True)
class Variable:
    where: str
    name: str
    query: str  # label_values(<selector>, <label>)
    current: str | None  # the dashboard's saved selection, None for "All" / nothing saved


def panel_queries(path: Path) -> Iterator[PanelQuery]:
    for panel in all_panels(load_dashboard(path)):
        for target in panel.get("targets", []):
            ds = (target.get("datasource") or panel.get("datasource") or {}).get("type")
            query = target.get("expr") if ds == "prometheus" else target.get("query")
            if ds in ("prometheus", "elasticsearch") and query:
                yield PanelQuery(f"{path.stem}: {panel.get('title')!r} {target.get('refId')}", path, ds, query)


def _current(var: dict[str, Any]) -> str | None:
    value = (var.get("current") or {}).get("value")
    return value if isinstance(value, str) and value and value != "$__all" else None


def variables(path: Path, kind: str) -> list[dict[str, Any]]:
    return [v for v in load_dashboard(path).get("templating", {}).get("list", []) if v.get("type") == kind]


QUERIES = [q for path in DASHBOARD_FILES for q in panel_queries(path)]
VARIABLES = [
    Variable(
        f"{path.stem}: ${var['name']}",
        var["name"],
        var["query"]["query"] if isinstance(var["query"], dict) else var["query"],
        _current(var),
    )
    for path in DASHBOARD_FILES
    for var in variables(path, "query")
]
# Variables that choose the service: this run's, so nothing from other runs can satisfy a panel.
SERVICE_VARIABLES = ("job", "service")


def substitute(query: str, values: dict[str, str]) -> str:
    """Grafana's ``$name`` / ``${name}`` interpolation (longest names first, so ``$__range`` is not ``$__r``...)."""
    for name in sorted(values, key=len, reverse=True):
        query = query.replace(f"${{{name}}}", values[name]).replace(f"${name}", values[name])
    assert "$" not in query, f"uninterpolated variable left in {query!r}"
    return query


def label_values(prometheus: Prometheus, query: str) -> set[str]:
    m = _LABEL_VALUES.match(query)
    assert m, f"unsupported variable query {query!r}"
    return {s.labels.get(m["label"], "") for s in prometheus.query(f"group by ({m['label']}) ({m['selector']})")} - {""}


def _prometheus_timeout(prometheus: Prometheus) -> float:
    """A panel on a recorded series shows this run's data only after its rule group has run again."""
    return TIMEOUT_S + prometheus.slowest_rule_interval_s()


def dashboard_values(path: Path, run: E2ERun, prometheus: Prometheus) -> dict[str, str]:
    """What Grafana would interpolate: this run's services; any other variable its saved or first offered value."""
    values = {**_MACROS, "job": run.job_regex, "service": run.name("error")}
    for textbox in variables(path, "textbox"):
        values[textbox["name"]] = _current(textbox) or str(textbox.get("query", ""))
    for var in VARIABLES:
        if var.where.startswith(f"{path.stem}:") and var.name not in SERVICE_VARIABLES:
            offered = poll(
                partial(label_values, prometheus, var.query),
                timeout_s=_prometheus_timeout(prometheus),
                what=f"values of {var.where}",
            )
            values[var.name] = var.current if var.current in offered else min(offered)
    return values


def _selects_only_failures(vs: pp.VectorSelector) -> bool:
    name = vs.name
    if name is None or name in PROVOKED or name.startswith(PROVOKED_PREFIXES) or name not in SERIES:
        return False
    if not SERIES[name].always:
        return True  # the series itself appears with the first failure (a failed send, a refusal, ...)
    return any(  # only the failed part of an always-present series, e.g. otel_sdk_* {error_type!=""}
        m.name == "error_type"
        and ((m.op == pp.MatchOp.NotEqual and m.value == "") or (m.op == pp.MatchOp.Re and m.value in (".+", ".*[^ ].*")))
        for m in vs.matchers.matchers
    )


def failure_only(expr: str) -> bool:
    """True when every series selection in the query can only hold failures this run does not provoke."""
    found = [node for node in walk(parse(expr)) if isinstance(node, pp.VectorSelector)]
    return bool(found) and all(_selects_only_failures(vs) for vs in found)


@pytest.mark.parametrize("panel", QUERIES, ids=[q.where for q in QUERIES])
def test_panel_query_returns_data(
    panel: PanelQuery, run: E2ERun, prometheus: Prometheus, elasticsearch: Elasticsearch, collector: CollectorSettings
) -> None:
    query = substitute(panel.query, dashboard_values(panel.dashboard, run, prometheus))
    if panel.datasource == "elasticsearch":
        poll(
            lambda: elasticsearch.lucene(collector.logs_index, query, size=5),
            timeout_s=TIMEOUT_S,
            what=f"log records for {query!r}",
        )
        return
    if failure_only(query):
        # Only failures this run does not cause (refused, dropped, failed sends) feed this panel: a
        # healthy stack may show "No data" here. Prometheus must still accept the query; the series
        # names themselves are proven real by test_prometheus's catalog test.
        prometheus.query(query)
        return
    poll(lambda: prometheus.query(query), timeout_s=_prometheus_timeout(prometheus), what=f"data for {query}")


@pytest.mark.parametrize("var", VARIABLES, ids=[v.where for v in VARIABLES])
def test_dashboard_variable_offers_values(var: Variable, run: E2ERun, prometheus: Prometheus) -> None:
    """Service pickers offer this run's services; other pickers offer their saved selection."""
    if var.name in SERVICE_VARIABLES:
        wanted = {run.name(role) for role in ("fast", "slow", "error")}
    else:
        wanted = {var.current} if var.current else set()
    poll(
        lambda: offered if wanted <= (offered := label_values(prometheus, var.query)) and offered else None,
        timeout_s=_prometheus_timeout(prometheus),
        what=f"{var.where} to offer {sorted(wanted) or 'any value'}",
    )


TRACES_TO_METRICS = [
    (q["name"], q["query"].replace("$$", "$"))
    for ds in load_datasources()
    for q in ds.get("jsonData", {}).get("tracesToMetrics", {}).get("queries", [])
]


@pytest.mark.parametrize(("name", "query"), TRACES_TO_METRICS, ids=[t[0] for t in TRACES_TO_METRICS])
def test_trace_to_metrics_link_returns_data(name: str, query: str, run: E2ERun, prometheus: Prometheus) -> None:
    # The Jaeger datasource maps the span's service.name tag to service_name ($__tags); the failing service has errors too.
    expr = substitute(query, {**_MACROS, "__tags": f'service_name="{run.name("error")}"'})
    poll(lambda: prometheus.query(expr), timeout_s=_prometheus_timeout(prometheus), what=f"{name}: data for {expr}")


def test_trace_to_logs_link_finds_the_request_log_record(
    run: E2ERun, elasticsearch: Elasticsearch, collector: CollectorSettings
) -> None:
    (jaeger_ds,) = [ds for ds in load_datasources() if ds["type"] == "jaeger"]
    trace_id = run.burst["slow"][0].trace_id
    assert trace_id
    query = jaeger_ds["jsonData"]["tracesToLogsV2"]["query"].replace("$${__span.traceId}", trace_id)
    poll(
        lambda: elasticsearch.lucene(collector.logs_index, query, size=5),
        timeout_s=TIMEOUT_S,
        what=f"Grafana's trace->logs query {query!r} to find the record in {collector.logs_index}",
    )

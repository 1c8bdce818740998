"""Every PromQL expression of the stack's configuration, with where it comes from.

Grafana expressions are made plain PromQL the way Grafana would before sending them:
``$__rate_interval``/``$__interval``/``$__range`` become durations and ``$__tags`` a label
matcher; ``$var`` inside label values stays as text (still valid PromQL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "collector-config"
PROMETHEUS_DIR = CONFIG / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))
GRAFANA_DIR = CONFIG / "grafana" / "provisioning"
DASHBOARD_FILES = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
DATASOURCES_FILE = GRAFANA_DIR / "datasources" / "datasources.yml"

_GRAFANA_MACROS = {
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval": "30s",
    "${__interval}": "30s",
    "$__range": "1h",
    "${__range}": "1h",
    "$__tags": 'service_name="credit-risk-service"',
}
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*(?P<label>\w+)\s*\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.*)\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class PromExpr:
    """One expression: ``where`` names its file and place; ``legend`` is a Grafana legendFormat."""

    where: str
    expr: str
    legend: str = ""


def to_promql(grafana_expr: str) -> str:
    """A Grafana query as Prometheus receives it (longest macro names first)."""
    out = grafana_expr
    for macro in sorted(_GRAFANA_MACROS, key=len, reverse=True):
        out = out.replace(macro, _GRAFANA_MACROS[macro])
    return out


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows nest their panels


def _is_prometheus(ds: dict[str, Any] | None) -> bool:
    return bool(ds) and ds.get("type") == "prometheus"  # type: ignore[union-attr]


def dashboard_exprs(path: Path) -> Iterator[PromExpr]:
    dash = load_dashboard(path)
    for panel in all_panels(dash):
        for target in panel.get("targets", []):
            if _is_prometheus(target.get("datasource") or panel.get("datasource")) and target.get("expr"):
                where = f"{path.name}: panel {panel.get('id')} {panel.get('title')!r} target {target.get('refId')}"
                yield PromExpr(where, to_promql(target["expr"]), target.get("legendFormat", ""))
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") != "query" or not _is_prometheus(var.get("datasource")):
            continue
        query = var["query"]["query"] if isinstance(var.get("query"), dict) else var.get("query", "")
        where = f"{path.name}: variable {var['name']}"
        if m := _LABEL_VALUES.match(query):
            yield PromExpr(where, to_promql(m["selector"]))
        elif m := _QUERY_RESULT.match(query):
            yield PromExpr(where, to_promql(m["expr"]))
        else:
            raise AssertionError(f"{where}: unsupported variable query {query!r}")


def load_datasources() -> list[dict[str, Any]]:
    return yaml.safe_load(DATASOURCES_FILE.read_text())["datasources"]


def datasource_exprs() -> Iterator[PromExpr]:
    """PromQL in datasource settings (Jaeger trace-to-metrics queries); ``$$`` is provisioning's ``$``."""
    for ds in load_datasources():
        for i, q in enumerate(ds.get("jsonData", {}).get("tracesToMetrics", {}).get("queries", [])):
            yield PromExpr(f"datasources.yml: {ds['name']} tracesToMetrics[{i}]", to_promql(q["query"].replace("$$", "$")))


def load_rule_groups(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text())["groups"]


def rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in RULE_FILES:
        for group in load_rule_groups(path):
            for rule in group["rules"]:
                yield path, rule


def rule_exprs() -> Iterator[PromExpr]:
    for path, rule in rules():
        yield PromExpr(f"{path.name}: {rule.get('alert') or rule.get('record')}", rule["expr"])


def all_exprs() -> list[PromExpr]:
    found = list(rule_exprs()) + list(datasource_exprs())
    for path in DASHBOARD_FILES:
        found.extend(dashboard_exprs(path))
    return found


def as_rule_file(exprs: list[PromExpr]) -> str:
    """A rules file with each expression as a recording rule, for ``promtool check rules``."""
    return yaml.safe_dump(
        {"groups": [{"name": "exprs", "rules": [{"record": f"expr_{i:03d}", "expr": e.expr} for i, e in enumerate(exprs)]}]},
        sort_keys=False,
        width=10_000,
    )

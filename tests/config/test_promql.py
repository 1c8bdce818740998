"""Every PromQL expression (Grafana panels and variables, datasource links, rules) is valid PromQL
according to promtool, selects only series the pipeline produces, and uses labels they carry."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.config.catalog import known_series_labels
from tests.config.exprs import DASHBOARD_FILES, PromExpr, all_exprs, as_rule_file, dashboard_exprs, datasource_exprs
from tests.config.promql_labels import grouping_labels, output_labels, parse, selectors

EXPRS = all_exprs()


def _ids(exprs: list[PromExpr]) -> list[str]:
    return [e.where for e in exprs]


@pytest.mark.parametrize(
    "source",
    [*DASHBOARD_FILES, "datasources"],
    ids=lambda s: s.name if isinstance(s, Path) else str(s),
)
def test_promtool_parses_every_grafana_query(promtool: str, tmp_path: Path, source: Path | str) -> None:
    exprs = list(datasource_exprs()) if source == "datasources" else list(dashboard_exprs(source))  # type: ignore[arg-type]
    assert exprs, "no Prometheus query found"
    rule_file = tmp_path / "exprs.yml"
    rule_file.write_text(as_rule_file(exprs))
    result = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, check=False)
    listing = "\n".join(f"expr_{i:03d}  {e.where}: {e.expr}" for i, e in enumerate(exprs))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{listing}"


def test_prometheus_3_parses_every_query(promtool3: str, tmp_path: Path) -> None:
    """The same queries through the promtool of the Prometheus version compose runs."""
    rule_file = tmp_path / "exprs.yml"
    rule_file.write_text(as_rule_file(EXPRS))
    result = subprocess.run([promtool3, "check", "rules", str(rule_file)], capture_output=True, text=True, check=False)
    listing = "\n".join(f"expr_{i:03d}  {e.where}: {e.expr}" for i, e in enumerate(EXPRS))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{listing}"


@pytest.mark.parametrize("expr", EXPRS, ids=_ids(EXPRS))
def test_query_selects_only_series_the_pipeline_produces(expr: PromExpr) -> None:
    known = known_series_labels()
    for sel in selectors(parse(expr.expr)):
        if sel.name is None:
            pattern = re.compile(f"^(?:{sel.name_regex})$")
            assert any(pattern.match(name) for name in known), f"{sel.name_regex!r} matches no known series"
            continue
        assert sel.name in known, f"{sel.name} is not produced by the pipeline (see tests/config/pipeline_metrics.py)"
        labels = known[sel.name]
        if labels is not None:
            assert sel.matcher_labels <= labels, f"{sel.name} has no label {sorted(sel.matcher_labels - labels)}"


@pytest.mark.parametrize("expr", EXPRS, ids=_ids(EXPRS))
def test_grouping_labels_exist_on_the_grouped_series(expr: PromExpr) -> None:
    known = known_series_labels()
    for inner, names in grouping_labels(parse(expr.expr)):
        available = output_labels(inner, known)
        if available is not None:
            assert names <= available, f"grouping by {sorted(names - available)} which {inner} does not carry"


LEGENDS = [e for e in EXPRS if re.search(r"\{\{\s*\w+\s*\}\}", e.legend)]


@pytest.mark.parametrize("expr", LEGENDS, ids=_ids(LEGENDS))
def test_legend_prints_labels_the_query_returns(expr: PromExpr) -> None:
    available = output_labels(parse(expr.expr), known_series_labels())
    used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", expr.legend))
    if available is not None:
        assert used <= available, f"legend {expr.legend!r} uses {sorted(used - available)}, not in the result"

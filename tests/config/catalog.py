"""Label names of every series the rules and dashboards may select: pipeline metrics + recorded series."""

from __future__ import annotations

from functools import cache

from tests.config.exprs import rules
from tests.config.pipeline_metrics import SERIES
from tests.config.promql_labels import output_labels, parse


@cache
def known_series_labels() -> dict[str, frozenset[str] | None]:
    """Series name -> its label names (``None``: any label, as on ALERTS)."""
    known: dict[str, frozenset[str] | None] = {
        name: (None if "*" in metric.labels else metric.series_labels(name)) for name, metric in SERIES.items()
    }
    for _, rule in rules():  # recording rules in file order: later ones may read earlier ones
        if "record" in rule:
            labels = output_labels(parse(rule["expr"]), known)
            # A rule's static `labels:` are on its series too (e.g. vector(0.1) with ml_feature).
            known[rule["record"]] = None if labels is None else labels | frozenset(rule.get("labels", {}))
    return known

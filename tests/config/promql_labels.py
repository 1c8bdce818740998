"""What a PromQL expression selects and which labels its result carries (a real parser, no regexes).

Used to check dashboards and rules against ``pipeline_metrics``: every selected series must be a
name the pipeline produces, every label matcher and grouping label must exist on it, and every
``{{label}}`` a legend or an alert annotation prints must survive the aggregations.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import promql_parser as pp

ANY = None  # label set unknown: accept any label

# Functions whose result has no labels, or keeps those of their first vector argument minus some.
_NO_LABELS = frozenset({"vector", "time", "scalar", "pi", "absent", "absent_over_time"})


@dataclass(frozen=True)
class Selector:
    """One vector selector: its series name and the label names it matches on."""

    name: str | None
    name_regex: str | None
    matcher_labels: frozenset[str]


def parse(expr: str) -> pp.Expr:
    return pp.parse(expr)


def selectors(node: pp.Expr) -> Iterator[Selector]:
    for vs in _walk_selectors(node):
        name, regex = vs.name, None
        labels = set()
        for m in vs.matchers.matchers:
            if m.name == "__name__":
                if m.op == pp.MatchOp.Equal:
                    name = m.value
                else:
                    regex = m.value
            else:
                labels.add(m.name)
        yield Selector(name, regex, frozenset(labels))


def _children(node: pp.Expr) -> list[pp.Expr]:
    if isinstance(node, pp.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, pp.AggregateExpr):
        return [node.expr] + ([node.param] if node.param is not None else [])
    if isinstance(node, pp.Call):
        return list(node.args)
    if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        return [node.expr]
    if isinstance(node, pp.MatrixSelector):
        return [node.vector_selector]
    return []


def _walk_selectors(node: pp.Expr) -> Iterator[pp.VectorSelector]:
    if isinstance(node, pp.VectorSelector):
        yield node
    for child in _children(node):
        yield from _walk_selectors(child)


def walk(node: pp.Expr) -> Iterator[pp.Expr]:
    yield node
    for child in _children(node):
        yield from walk(child)


def output_labels(node: pp.Expr, series_labels: Mapping[str, frozenset[str] | None]) -> frozenset[str] | None:
    """Label names on the result of ``node`` (``ANY`` when it cannot be known)."""

    def lab(n):
        return output_labels(n, series_labels)

    if isinstance(node, pp.VectorSelector):
        sel = next(selectors(node))
        return series_labels.get(sel.name) if sel.name else ANY
    if isinstance(node, (pp.MatrixSelector,)):
        return lab(node.vector_selector)
    if isinstance(node, (pp.ParenExpr, pp.UnaryExpr, pp.SubqueryExpr)):
        return lab(node.expr)
    if isinstance(node, (pp.NumberLiteral, pp.StringLiteral)):
        return frozenset()
    if isinstance(node, pp.AggregateExpr):
        inner = lab(node.expr)
        if node.op in ("topk", "bottomk", "limitk", "limit_ratio"):
            return inner
        mod = node.modifier
        if mod is None:
            return frozenset()
        if mod.type == pp.AggModifierType.By:
            return frozenset(mod.labels)
        return ANY if inner is ANY else inner - set(mod.labels)
    if isinstance(node, pp.Call):
        return _call_labels(node, lab)
    if isinstance(node, pp.BinaryExpr):
        return _binary_labels(node, lab)
    return ANY


def _call_labels(node: pp.Call, lab) -> frozenset[str] | None:  # type: ignore[no-untyped-def]
    name = node.func.name
    if name in _NO_LABELS:
        return frozenset()
    if name in ("label_replace", "label_join"):
        inner = lab(node.args[0])
        return ANY if inner is ANY else inner | {node.args[1].val}
    if name == "histogram_quantile":
        inner = lab(node.args[1])
        return ANY if inner is ANY else inner - {"le"}
    vector_args = [a for a in node.args if not isinstance(a, (pp.NumberLiteral, pp.StringLiteral))]
    return lab(vector_args[0]) if vector_args else frozenset()


def _binary_labels(node: pp.BinaryExpr, lab) -> frozenset[str] | None:  # type: ignore[no-untyped-def]
    lhs, rhs = lab(node.lhs), lab(node.rhs)
    op = str(node.op).strip().lower()
    if op == "or":
        return ANY if ANY in (lhs, rhs) else lhs | rhs
    if op in ("and", "unless"):
        return lhs
    if _is_scalar(node.lhs):
        return rhs
    if _is_scalar(node.rhs):
        return lhs
    mod = node.modifier
    if mod is None or mod.matching is None:
        return lhs
    card = mod.card
    extra = frozenset(mod.group_labels or ())
    if card == pp.VectorMatchCardinality.ManyToOne:
        return ANY if lhs is ANY else lhs | extra
    if card == pp.VectorMatchCardinality.OneToMany:
        return ANY if rhs is ANY else rhs | extra
    matching = mod.matching
    if matching.type == pp.LabelModifierType.Include:  # on(...)
        return frozenset(matching.labels)
    return ANY if lhs is ANY else lhs - set(matching.labels)


def _is_scalar(node: pp.Expr) -> bool:
    while isinstance(node, (pp.ParenExpr, pp.UnaryExpr)):
        node = node.expr
    if isinstance(node, pp.NumberLiteral):
        return True
    if isinstance(node, pp.BinaryExpr):
        return _is_scalar(node.lhs) and _is_scalar(node.rhs)
    return isinstance(node, pp.Call) and node.func.name in ("scalar", "time", "pi")


def grouping_labels(node: pp.Expr) -> Iterator[tuple[pp.Expr, frozenset[str]]]:
    """(inner expression, labels it must carry) for every by() and on() clause.

    ignoring() and without() may name labels a side does not have, so they are not checked.
    """
    for n in walk(node):
        if isinstance(n, pp.AggregateExpr) and n.modifier is not None and n.modifier.type == pp.AggModifierType.By:
            yield n.expr, frozenset(n.modifier.labels)
        if isinstance(n, pp.BinaryExpr) and n.modifier is not None and n.modifier.matching is not None:
            if n.modifier.matching.type != pp.LabelModifierType.Include:
                continue
            names = frozenset(n.modifier.matching.labels)
            if names:
                yield n.lhs, names
                yield n.rhs, names

"""Counts every scored row's raw inputs and score into ``ml.feature.bucket``, on the request path.

Why here and this way: drift is a property of the traffic, so it is counted where the traffic
is, for every prediction (sampled or not), after validation and inference. The counter is a
pre-aggregated :class:`otel.fastmetrics.CounterVector`: a single request costs a bisect per
feature and one locked loop of a dozen additions; a batch costs one ``searchsorted`` per feature
and a single ``bincount`` over all its rows, never a Python loop over rows
(``bench/drift_cost.py`` measures both).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from otel.attributes import ML_BUCKET, ML_FEATURE
from otel.fastmetrics import CounterVector, FastMetrics
from service.drift.buckets import DriftReference, FeatureBuckets, bucket_label

BROADCAST_MAX_ROWS = 64
METRIC_NAME = "ml.feature.bucket"
METRIC_UNIT = "{value}"
METRIC_DESCRIPTION = "Scored rows counted into the training data's decile buckets (numeric inputs, score) or categories."


class DriftRecorder:
    """Bucket lookup tables built once from the reference; ``record`` is safe from any thread."""

    def __init__(self, reference: DriftReference, fast: FastMetrics, integer_fields: frozenset[str] = frozenset()) -> None:
        self.reference = reference
        attribute_sets: list[dict[str, str]] = []
        slots: dict[tuple[str, str], int] = {}
        for feature in reference.features:
            for label in feature.labels:
                slots[(feature.name, label)] = len(attribute_sets)
                attribute_sets.append({ML_FEATURE: feature.name, ML_BUCKET: label})
        self.counter: CounterVector = fast.counter_vector(METRIC_NAME, METRIC_UNIT, METRIC_DESCRIPTION, attribute_sets)

        numeric = [f for f in reference.features if f.kind == "numeric"]
        self._numeric = [(f.name, _bisect_edges(f.edges, f.name in integer_fields), _decile_slots(f, slots)) for f in numeric]
        self._numeric_np = [(name, np.asarray(edges, dtype=np.float64), np.asarray(table)) for name, edges, table in self._numeric]
        # Small batches: every numeric column against its own edges in one broadcast comparison; the
        # edge matrix is padded with +inf (never exceeded) when features have fewer edges.
        width = max((len(f.edges) for f in numeric), default=0)
        self._numeric_names = [f.name for f in numeric]
        self._numeric_edges = np.full((len(numeric), width), np.inf)
        for i, f in enumerate(numeric):
            self._numeric_edges[i, : len(f.edges)] = f.edges
        self._numeric_base = np.arange(len(numeric))[None, :] * (width + 1)
        self._numeric_table = np.asarray([_decile_slots(f, slots) + [-1] * (width - len(f.edges)) for f in numeric], dtype=np.int64).ravel()
        categorical = [f for f in reference.features if f.kind == "categorical"]
        self._categorical = [(f.name, {c: slots[(f.name, c)] for c in f.categories}, slots[(f.name, f.labels[-1])]) for f in categorical]
        self._categorical_np = [_category_table(name, table, unseen) for name, table, unseen in self._categorical]
        score = next(f for f in reference.features if f.kind == "score")
        self._score_edges, self._score_slots = list(score.edges), _decile_slots(score, slots)
        self._score_np = (np.asarray(self._score_edges), np.asarray(self._score_slots))

    def record(self, rows: Sequence[Mapping[str, Any]], columns: Mapping[str, np.ndarray], scores: np.ndarray) -> None:
        """Count validated ``rows`` (or their ``columns``, the same data) and their ``scores``."""
        if len(scores) == 1:
            self.record_one(rows[0], float(scores[0]))
        elif len(scores):
            self.record_many(columns, scores)

    def record_one(self, row: Mapping[str, Any], score: float) -> None:
        indices = [table[bisect_left(edges, row[name])] for name, edges, table in self._numeric]
        for name, categories, unseen in self._categorical:
            indices.append(categories.get(row[name], unseen))
        indices.append(self._score_slots[bisect_left(self._score_edges, score)])
        self.counter.add_indices(indices)

    def record_many(self, columns: Mapping[str, np.ndarray], scores: np.ndarray) -> None:
        if len(scores) <= BROADCAST_MAX_ROWS:  # few rows: one comparison for all features (fewest numpy calls)
            values = np.column_stack([columns[name] for name in self._numeric_names])  # (rows, features)
            below = (values[:, :, None] > self._numeric_edges[None, :, :]).sum(axis=2)  # edges strictly below
            parts = [self._numeric_table[(below + self._numeric_base).ravel()]]
        else:  # many rows: a searchsorted per feature stays O(rows log edges)
            parts = [table[np.searchsorted(edges, columns[name], side="left")] for name, edges, table in self._numeric_np]
        for name, vocabulary, order, unseen in self._categorical_np:
            values = np.asarray(columns[name])
            position = np.minimum(np.searchsorted(vocabulary, values), len(vocabulary) - 1)
            parts.append(np.where(vocabulary[position] == values, order[position], unseen))
        edges, table = self._score_np
        parts.append(table[np.searchsorted(edges, scores, side="left")])
        self.counter.add_counts(np.bincount(np.concatenate(parts), minlength=len(self.counter)))


def _bisect_edges(edges: Sequence[float], integer_field: bool) -> list[float] | list[int]:
    """Edges of an integer field as ints when whole: int-to-int compares are ~40 % cheaper than int-to-float."""
    if integer_field and all(float(e).is_integer() for e in edges):
        return [int(e) for e in edges]
    return list(edges)


def _decile_slots(feature: FeatureBuckets, slots: Mapping[tuple[str, str], int]) -> list[int]:
    """Slot per decile bucket index; an empty interval borrows the next live bucket's slot (unreachable)."""
    table: list[int] = []
    for index in range(len(feature.edges) + 1):
        live = index
        while (feature.name, bucket_label(live)) not in slots:
            live += 1
        table.append(slots[(feature.name, bucket_label(live))])
    return table


def _category_table(name: str, table: Mapping[str, int], unseen: int) -> tuple[str, np.ndarray, np.ndarray, int]:
    """Sorted vocabulary and the slot of each entry, for a vectorised ``searchsorted`` lookup."""
    vocabulary = sorted(table)
    return name, np.asarray(vocabulary), np.asarray([table[c] for c in vocabulary]), unseen


def create_recorder(card: Mapping[str, Any], fast: FastMetrics | None) -> DriftRecorder | None:
    """The service's recorder, or ``None`` without telemetry; a card without drift data raises."""
    if fast is None:
        return None
    integers = frozenset(e["field"] for e in card.get("input_schema", ()) if e.get("type") == "integer")
    return DriftRecorder(DriftReference.from_card(card), fast, integers)

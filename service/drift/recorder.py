"""Counts every scored row's raw inputs and score into ``ml.feature.bucket``, on the request path.

Why here and this way: drift is a property of the traffic, so it is counted where the traffic
is, for every prediction (sampled or not), after validation and inference. The counter is a
pre-aggregated :class:`otel.fastmetrics.CounterVector`. A single request costs a bisect per
feature and one locked loop of a dozen additions. A batch is queued (``PendingBatches``) with
the next ones and counted a couple of thousand rows at a time, one ``searchsorted`` per feature
for numbers and column sums of the model matrix's one-hot columns for categories (no string
compared again): on a busy server the numpy calls cost far more per call than per row, so a
request no longer pays them (``bench/drift_cost.py`` measures each path; BENCHMARKS.md).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from otel.fastmetrics import CounterVector, FastMetrics, PendingBatches
from service.drift.buckets import DriftReference, FeatureBuckets, bucket_label
from service.pipeline.features import ONE_HOT_COLUMNS
from service.telemetry import ML_BUCKET, ML_FEATURE

log = logging.getLogger(__name__)

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
        self._pending: PendingBatches[_Batch] = self.counter.pending_batches(self._count)

        numeric = [f for f in reference.features if f.kind == "numeric"]
        self._numeric = [(f.name, _bisect_edges(f.edges, f.name in integer_fields), _decile_slots(f, slots)) for f in numeric]
        self._numeric_names = [f.name for f in numeric]
        categorical = [f for f in reference.features if f.kind == "categorical"]
        self._categorical = [
            (f.name, {c: slots[(f.name, c)] for c in f.categories}, slots[(f.name, f.labels[-1])]) for f in categorical
        ]
        score = next(f for f in reference.features if f.kind == "score")
        self._score_edges, self._score_slots = list(score.edges), _decile_slots(score, slots)
        # Per numeric feature then the score: its name, edges and slot per bucket, for whole batches.
        self._edges_np = [
            (name, np.asarray(edges, dtype=np.float64), np.asarray(table, dtype=np.intp))
            for name, edges, table in [*self._numeric, (score.name, self._score_edges, self._score_slots)]
        ]
        self._one_hot = _OneHotCounts.of(categorical, slots)
        self._warned_nan = False

    def record(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Mapping[str, np.ndarray],
        scores: np.ndarray,
        features: np.ndarray | None = None,
    ) -> None:
        """Count validated ``rows`` and their ``scores``; ``columns`` and ``features`` are the same rows, see ``batch_counts``.

        A batch is queued and counted with the next ones (module docstring), its arrays kept by
        reference until then: do not change them after the call. Reads of ``counter`` count the queue first.
        """
        if len(scores) == 1:
            self.record_one(rows[0], float(scores[0]))
        elif len(scores):
            self._pending.add(self._batch(rows, columns, scores, features), len(scores))

    def record_one(self, row: Mapping[str, Any], score: float) -> None:
        """Count one row and its score: a bisect per numeric feature, a dict lookup per category."""
        indices = [table[bisect_left(edges, row[name])] for name, edges, table in self._numeric]
        for name, categories, unseen in self._categorical:
            indices.append(categories.get(row[name], unseen))
        indices.append(self._score_slots[bisect_left(self._score_edges, score)])
        self.counter.add_indices(indices)

    def batch_counts(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Mapping[str, np.ndarray],
        scores: np.ndarray,
        features: np.ndarray | None = None,
    ) -> np.ndarray:
        """A batch's count per counter slot (``len(self.counter)`` long), without recording it.

        ``rows`` are the validated rows, ``columns`` the same rows as one array per raw field, and
        ``features`` (optional) their model matrix, whose one-hot columns then count the categories;
        without it they are looked up row by row. A NaN value is left out (logged once), not bucketed.
        """
        return self._count([self._batch(rows, columns, scores, features)])

    def _batch(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Mapping[str, np.ndarray],
        scores: np.ndarray,
        features: np.ndarray | None,
    ) -> _Batch:
        """What counting needs later, without numpy work now: references to the arrays, or category slots from the rows."""
        numbers = [columns[name] for name in self._numeric_names]
        numbers.append(scores)
        if features is not None and self._one_hot is not None:
            return _Batch(numbers, features, None)
        codes = [table.get(row[name], unseen) for name, table, unseen in self._categorical for row in rows]
        return _Batch(numbers, None, codes)

    def _count(self, batches: list[_Batch]) -> np.ndarray:
        """The count per counter slot of ``batches``: a ``searchsorted`` per feature over all their rows.

        Few numpy calls per fold, however many batches: each one can hand the GIL to another thread.
        """
        rows = sum(len(b.numbers[0]) for b in batches)
        # Feature-major, as float64 (exact for the integer fields and the float32 scores): feature i is [i*rows, (i+1)*rows).
        values = np.concatenate([b.numbers[i] for i in range(len(self._edges_np)) for b in batches], dtype=np.float64)
        nan = bool(np.isnan(values).any())
        slots: list[np.ndarray] = []
        for index, (name, edges, table) in enumerate(self._edges_np):
            feature = values[index * rows : (index + 1) * rows]
            if nan:  # validation refuses NaN inputs; a NaN score would otherwise land in the top bucket
                feature = self._without_nan(name, feature)
            slots.append(table[np.searchsorted(edges, feature, side="left")])
        codes = [c for b in batches if b.codes is not None for c in b.codes]
        slots.append(np.asarray(codes, dtype=np.intp))
        counts = np.bincount(np.concatenate(slots), minlength=len(self.counter))
        matrices = [b.matrix for b in batches if b.matrix is not None]
        if matrices and self._one_hot is not None:
            self._one_hot.add_to(counts, matrices[0] if len(matrices) == 1 else np.concatenate(matrices))
        return counts

    def _without_nan(self, feature: str, values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        if not missing.any():
            return values
        if not self._warned_nan:
            self._warned_nan = True
            log.warning(
                "drift counting left out %d NaN value(s) of %s (and will leave out later ones silently)",
                int(missing.sum()),
                feature,
            )
        return values[~missing]


class _Batch(NamedTuple):
    """A queued batch: per numeric feature and the score, its values; categories as the model matrix or as slots."""

    numbers: list[np.ndarray]
    matrix: np.ndarray | None
    codes: list[int] | None


class _OneHotCounts:
    """Categories counted from the model matrix's one-hot columns: a column sum per category, no string compared.

    Exact: the columns hold 0.0 or 1.0 and float32 sums whole numbers exactly up to 2**24 rows.
    A row whose value has no column (outside the vocabulary) is counted as its field's unseen.
    """

    def __init__(self, columns: list[int], targets: list[int], fields: list[tuple[int, int]]) -> None:
        self._columns = np.asarray(columns, dtype=np.intp)
        self._targets = np.asarray(targets, dtype=np.intp)  # per field: its categories' slots, then its unseen slot
        self._fields = fields  # per field: where its categories are in ``columns``

    @classmethod
    def of(cls, categorical: Sequence[FeatureBuckets], slots: Mapping[tuple[str, str], int]) -> _OneHotCounts | None:
        """The counter for these features, or ``None`` when a category of theirs has no one-hot column."""
        columns: list[int] = []
        targets: list[int] = []
        fields: list[tuple[int, int]] = []
        for feature in categorical:
            known = ONE_HOT_COLUMNS.get(feature.name, {})
            if not feature.categories or any(c not in known for c in feature.categories):
                return None
            fields.append((len(columns), len(columns) + len(feature.categories)))
            columns += [known[c] for c in feature.categories]
            targets += [slots[(feature.name, c)] for c in feature.categories] + [slots[(feature.name, feature.labels[-1])]]
        return cls(columns, targets, fields) if columns else None

    def add_to(self, counts: np.ndarray, features: np.ndarray) -> None:
        """Add the categories of the rows of ``features`` (the model matrix) into ``counts``."""
        per_category = features[:, self._columns].sum(axis=0).tolist()
        amounts: list[float] = []
        for start, end in self._fields:
            seen = per_category[start:end]
            amounts += [*seen, len(features) - sum(seen)]
        counts[self._targets] += np.asarray(amounts, dtype=np.int64)


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


def create_recorder(card: Mapping[str, Any], fast: FastMetrics | None) -> DriftRecorder | None:
    """The service's recorder, or ``None`` without telemetry; a card without drift data raises."""
    if fast is None:
        return None
    integers = frozenset(e["field"] for e in card.get("input_schema", ()) if e.get("type") == "integer")
    return DriftRecorder(DriftReference.from_card(card), fast, integers)

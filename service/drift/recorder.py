"""Counts every scored row's raw inputs and score into ``ml.feature.bucket``, on the request path.

Why here and this way: drift is a property of the traffic, so it is counted where the traffic
is, for every prediction (sampled or not), after validation and inference. The counter is a
pre-aggregated :class:`otel.fastmetrics.CounterVector`: a single request costs a bisect per
feature and one locked loop of a dozen additions; a batch costs a single ``bincount`` over all
its rows (``bench/drift_cost.py`` measures each path).

Batches pay a fixed cost per numpy call, which dominates up to about a hundred rows, so a small
batch (up to :data:`SMALL_BATCH_MAX_ROWS`) makes as few calls as it can: every numeric value and
score goes through one ``searchsorted`` over all features' edges at once. Larger batches take
one ``searchsorted`` per feature, which stays cheapest per row. Categories are looked up in a dict
row by row up to :data:`CATEGORY_LOOKUP_MAX_ROWS`; beyond, when the caller passes the model
matrix, they are column sums of its one-hot columns (no string compared again).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from otel.fastmetrics import CounterVector, FastMetrics
from service.drift.buckets import DriftReference, FeatureBuckets, bucket_label
from service.pipeline.features import ONE_HOT_COLUMNS
from service.telemetry import ML_BUCKET, ML_FEATURE

SMALL_BATCH_MAX_ROWS = 128
"""Largest batch whose numeric values take the one-``searchsorted`` path (module docstring); both paths count alike."""
CATEGORY_LOOKUP_MAX_ROWS = 32
"""Largest batch whose categories are looked up row by row; larger ones are summed from the one-hot columns."""
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
        self._numeric_np = [
            (name, np.asarray(edges, dtype=np.float64), np.asarray(table)) for name, edges, table in self._numeric
        ]
        categorical = [f for f in reference.features if f.kind == "categorical"]
        self._categorical = [
            (f.name, {c: slots[(f.name, c)] for c in f.categories}, slots[(f.name, f.labels[-1])]) for f in categorical
        ]
        score = next(f for f in reference.features if f.kind == "score")
        self._score_edges, self._score_slots = list(score.edges), _decile_slots(score, slots)
        self._score_np = (np.asarray(self._score_edges), np.asarray(self._score_slots))
        self._numeric_names = [f.name for f in numeric]
        self._joint = _JointEdges([(f, _decile_slots(f, slots)) for f in [*numeric, score]])
        self._one_hot = _OneHotCounts.of(categorical, slots)

    def record(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Mapping[str, np.ndarray],
        scores: np.ndarray,
        features: np.ndarray | None = None,
    ) -> None:
        """Count validated ``rows`` and their ``scores``; ``columns`` and ``features`` are the same rows, see ``batch_counts``."""
        if len(scores) == 1:
            self.record_one(rows[0], float(scores[0]))
        elif len(scores):
            self.counter.add_counts(self.batch_counts(rows, columns, scores, features))

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
        small: bool | None = None,
    ) -> np.ndarray:
        """A batch's count per counter slot (``len(self.counter)`` long), without recording it.

        ``rows`` are the validated rows, ``columns`` the same rows as one array per raw field, and
        ``features`` (optional) their model matrix, whose one-hot columns then count the categories
        of batches over :data:`CATEGORY_LOOKUP_MAX_ROWS` rows. ``small`` picks the numeric path
        (default: by size, :data:`SMALL_BATCH_MAX_ROWS`). Every path counts alike.
        """
        small = len(scores) <= SMALL_BATCH_MAX_ROWS if small is None else small
        if small:
            numeric = self._joint.slots([columns[name] for name in self._numeric_names] + [scores])
        else:  # a searchsorted per feature: O(rows log edges), cheapest per row
            parts = [table[np.searchsorted(edges, columns[name], side="left")] for name, edges, table in self._numeric_np]
            edges, table = self._score_np
            parts.append(table[np.searchsorted(edges, scores, side="left")])
            numeric = np.concatenate(parts)
        if features is not None and self._one_hot is not None and len(scores) > CATEGORY_LOOKUP_MAX_ROWS:
            counts = np.bincount(numeric, minlength=len(self.counter))
            self._one_hot.add_to(counts, features)
            return counts
        codes = [table.get(row[name], unseen) for name, table, unseen in self._categorical for row in rows]
        return np.bincount(np.concatenate((numeric, np.asarray(codes, dtype=np.intp))), minlength=len(self.counter))


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


class _JointEdges:
    """Every numeric feature's edges in one sorted array, so one ``searchsorted`` buckets all features.

    A value ``v`` of feature ``i`` is looked up as the complex number ``i + v·j``: numpy orders
    complex numbers by real part, then imaginary part, so feature ``i``'s key lands among its own
    edges (``i + e·j``), after every edge of the features before it. Each feature ends with an
    ``i + inf·j`` edge, so its last bucket is a position of its own. ``side="left"`` keeps the
    bucket rule exact: an edge value belongs to the bucket below it, as in ``decile_bucket``.
    NaN never miscounts: numpy sorts a complex NaN after every edge, so it indexes past the table and
    raises ``IndexError``, which the runner logs as a drift-counting failure (validation refuses NaN inputs).
    """

    def __init__(self, features: Sequence[tuple[FeatureBuckets, Sequence[int]]]) -> None:
        edges: list[complex] = []
        table: list[int] = []
        for index, (feature, slots) in enumerate(features):
            edges += [complex(index, e) for e in feature.edges] + [complex(index, np.inf)]
            table += slots
        self._edges = np.asarray(edges, dtype=np.complex128)
        self._table = np.asarray(table, dtype=np.intp)
        self._feature_ids = np.arange(len(features), dtype=np.float64)[:, None]

    def slots(self, columns: Sequence[np.ndarray]) -> np.ndarray:
        """The counter slot of every value of ``columns`` (one array per feature, in constructor order), flat."""
        keys = np.empty((len(columns), len(columns[0])), dtype=np.complex128)
        keys.real = self._feature_ids
        keys.imag = np.concatenate(columns).reshape(keys.shape)
        return self._table[np.searchsorted(self._edges, keys.ravel(), side="left")]


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

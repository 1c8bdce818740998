"""Drift buckets: which bucket a value falls in, and the training data's share of each bucket.

Why buckets fixed by the training data: counting production values into buckets known before the
first request keeps ``ml.feature.bucket`` bounded (features x at most 10 buckets) and makes the
population stability index computable downstream from counters alone, over any window, summed
over any number of workers.

Bucket rule, numeric features and the score (``model_card.json`` ``reference_statistics``):
``q{i:02d}`` holds the values ``v`` with ``decile_edges[i-1] < v <= decile_edges[i]`` (``q00``
has no lower edge, ``q09`` no upper one), i.e. ``numpy.searchsorted(edges, v, side="left")``, the
``(lower, upper]`` convention of OTel and Prometheus histogram buckets. Where two edges are equal
(discrete features: 80 % of training loans have no delinquency) the bucket between them is empty
by construction: it can never be hit, so it is neither exported nor part of the PSI. The card's
``bucket_shares`` are the training split's share of each ``q`` bucket under this very rule (they
are not 10 % each: ties at the edges move mass between neighbours).

Categorical features: one bucket per category of the vocabulary, plus :data:`UNSEEN` for a value
outside it (request validation rejects those today; the bucket keeps a looser schema honest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

SCORE_FEATURE: Final = "score"
"""``ml.feature`` value of the predicted P(default): one counter for inputs and output."""

UNSEEN: Final = "unseen"
"""Bucket of a categorical value the training vocabulary does not have."""

Kind = Literal["numeric", "categorical", "score"]


class DriftReferenceError(ValueError):
    """The model card lacks what drift monitoring needs; the message names the key."""


def bucket_label(index: int) -> str:
    """``q00``..``q09``: the decile interval a numeric value falls in."""
    return f"q{index:02d}"


def decile_bucket(edges: np.ndarray | Sequence[float], values: np.ndarray) -> np.ndarray:
    """Bucket index per value: the number of edges strictly below it (see the module rule)."""
    return np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")


def decile_shares(edges: Sequence[float], values: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each of the ``len(edges) + 1`` buckets (what the card stores)."""
    counts = np.bincount(decile_bucket(edges, np.asarray(values, dtype=np.float64)), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def live_buckets(edges: Sequence[float]) -> list[int]:
    """Bucket indices whose interval is not empty (first, last, and each after a strictly larger edge)."""
    return [i for i in range(len(edges) + 1) if i in (0, len(edges)) or edges[i - 1] < edges[i]]


def _fmt(value: float) -> str:
    return f"{value:g}"


def interval_text(edges: Sequence[float], index: int) -> str:
    """Human-readable interval of bucket ``index``: ``<= 25``, ``(25, 30]``, ``> 55``."""
    if index == 0:
        return f"<= {_fmt(edges[0])}"
    if index == len(edges):
        return f"> {_fmt(edges[-1])}"
    return f"({_fmt(edges[index - 1])}, {_fmt(edges[index])}]"


@dataclass(frozen=True)
class FeatureBuckets:
    """One monitored feature: its exported buckets, their training shares and what they mean."""

    name: str
    kind: Kind
    labels: tuple[str, ...]  # ml.bucket values, in display order
    reference: tuple[float, ...]  # training share of each label
    ranges: tuple[str, ...]  # human-readable interval or category of each label
    edges: tuple[float, ...] = ()  # numeric and score: decile edges as stored in the card
    categories: tuple[str, ...] = ()  # categorical: the vocabulary, in card order

    def reference_shares(self) -> dict[str, float]:
        return dict(zip(self.labels, self.reference, strict=True))


@dataclass(frozen=True)
class DriftReference:
    """Everything drift monitoring needs from a model card, in export order."""

    model_name: str
    model_version: str
    features: tuple[FeatureBuckets, ...]

    def feature(self, name: str) -> FeatureBuckets:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> DriftReference:
        try:
            stats = card["reference_statistics"]
            features = [_numeric(name, entry, "numeric") for name, entry in stats["numeric"].items()]
            features += [_categorical(name, shares) for name, shares in stats["categorical"].items()]
            features.append(_numeric(SCORE_FEATURE, stats["score"], "score"))
            return cls(model_name=str(card["name"]), model_version=str(card["version"]), features=tuple(features))
        except KeyError as exc:
            raise DriftReferenceError(f"model card has no {exc.args[0]!r} (reference_statistics for drift)") from None


def _numeric(name: str, entry: Mapping[str, Any], kind: Kind) -> FeatureBuckets:
    edges = [float(e) for e in entry["decile_edges"]]
    shares = [float(s) for s in entry["bucket_shares"]]
    if len(shares) != len(edges) + 1 or list(edges) != sorted(edges):
        raise DriftReferenceError(f"{name}: decile_edges must be sorted and bucket_shares one longer")
    live = live_buckets(edges)
    return FeatureBuckets(
        name=name,
        kind=kind,
        labels=tuple(bucket_label(i) for i in live),
        reference=tuple(shares[i] for i in live),
        ranges=tuple(interval_text(edges, i) for i in live),
        edges=tuple(edges),
    )


def _categorical(name: str, shares: Mapping[str, float]) -> FeatureBuckets:
    categories = tuple(shares)
    return FeatureBuckets(
        name=name,
        kind="categorical",
        labels=(*categories, UNSEEN),
        reference=(*(float(shares[c]) for c in categories), 0.0),
        ranges=(*categories, "not in the training vocabulary"),
        categories=categories,
    )

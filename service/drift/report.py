"""The drift report as data: per feature PSI, reference vs current histograms, verdicts.

The JSON written by ``python -m service.drift`` is exactly :func:`build_report`'s dict;
the HTML page (``service.drift.html``) is rendered from it, so both always say the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.drift.buckets import SCORE_FEATURE, DriftReference, FeatureBuckets
from service.drift.psi import MODERATE, SIGNIFICANT, expected_noise, psi_terms, shares, verdict

SEVERITY = {"no_data": -1, "none": 0, "moderate": 1, "significant": 2}


@dataclass(frozen=True)
class Thresholds:
    moderate: float = MODERATE
    significant: float = SIGNIFICANT


def feature_report(feature: FeatureBuckets, counts: Mapping[str, float], thresholds: Thresholds) -> dict[str, Any]:
    """One feature: its buckets side by side, the PSI and its verdict."""
    current_counts = [float(counts.get(label, 0.0)) for label in feature.labels]
    total = sum(current_counts)
    current = shares(current_counts)
    terms = psi_terms(feature.reference, current)
    value = float(terms.sum()) if total > 0 else None
    unknown = sorted(set(counts) - set(feature.labels))
    notes = []
    if unknown:
        notes.append(f"buckets not in this model's reference were ignored: {', '.join(unknown)} (another model version?)")
    noise = expected_noise(len(feature.labels), int(total))
    if total > 0 and noise > thresholds.moderate / 4:
        notes.append(f"only {int(total)} values: sampling noise alone gives PSI ~{noise:.3f}")
    return {
        "feature": feature.name,
        "kind": feature.kind,
        "psi": None if value is None else round(value, 6),
        "verdict": verdict(value, thresholds.moderate, thresholds.significant),
        "count": _whole(total),
        "notes": notes,
        "buckets": [
            {
                "bucket": label,
                "range": text,
                "reference": round(ref, 6),
                "current": round(float(cur), 6),
                "count": _whole(count),
                "psi_term": round(float(term), 6),
            }
            for label, text, ref, cur, count, term in zip(
                feature.labels, feature.ranges, feature.reference, current, current_counts, terms, strict=True
            )
        ],
    }


def build_report(
    reference: DriftReference,
    counts: Mapping[str, Mapping[str, float]],
    source: Mapping[str, Any],
    thresholds: Thresholds = Thresholds(),
    model_versions: set[str] | None = None,
    generated_at: datetime | None = None,
    source_warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """The report dict; ``source_warnings`` (e.g. an instance that contributed nothing) come first in ``warnings``."""
    features = [feature_report(f, counts.get(f.name, {}), thresholds) for f in reference.features]
    inputs = [f for f in features if f["feature"] != SCORE_FEATURE]
    prediction = next(f for f in features if f["feature"] == SCORE_FEATURE)
    drifted = [f["feature"] for f in inputs if f["verdict"] == "significant"]
    moderate = [f["feature"] for f in inputs if f["verdict"] == "moderate"]
    warnings = list(source_warnings)
    others = sorted((model_versions or set()) - {reference.model_version})
    if others:
        warnings.append(f"telemetry comes from model version(s) {', '.join(others)}; reference is {reference.model_version}")
    return {
        "title": f"Drift report: {reference.model_name} {reference.model_version}",
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "model": {"name": reference.model_name, "version": reference.model_version},
        "source": dict(source),
        "method": {
            "statistic": "population stability index",
            "formula": "sum_b (current_b - reference_b) * ln(current_b / reference_b), shares floored at 1e-4",
            "reference": "training split of the model card (reference_statistics)",
            "thresholds": {"moderate": thresholds.moderate, "significant": thresholds.significant},
        },
        "summary": {
            "verdict": _worst([f["verdict"] for f in inputs]),
            "prediction_verdict": prediction["verdict"],
            "prediction_psi": prediction["psi"],
            "features": len(inputs),
            "drifted_features": drifted,
            "moderate_features": moderate,
            "drifted_share": round(len(drifted) / len(inputs), 4) if inputs else 0.0,
            "rows": prediction["count"],
        },
        "warnings": warnings,
        "features": features,
    }


def _whole(count: float) -> int | float:
    """Counts are whole numbers of rows: shown as such (a fraction would only come from a hand-made source)."""
    return int(count) if float(count).is_integer() else count


def _worst(verdicts: list[str]) -> str:
    known = [v for v in verdicts if v != "no_data"]
    return max(known, key=SEVERITY.__getitem__) if known else "no_data"

"""Train the bundled credit-risk model and write ``service/model/`` (dev-only: needs scikit-learn, skl2onnx).

Usage::

    python scripts/train_model.py [--out-dir service/model] [--seed 20240601]

The data set is synthetic but shaped like consumer-loan books (see :func:`generate_dataset`):
the default label comes from a logistic function of real risk drivers plus an unobserved
borrower trait, so the model learns a genuine, imperfect signal. The features are built by
``service.pipeline.features.engineer_features``, the very function the service runs per request.

Everything is deterministic for a given seed: the data, the split, the single-threaded
``GradientBoostingClassifier`` (exact splits, no OpenMP reductions), the ONNX graph (fixed graph
name, opsets, producer fields, no timestamps) and the model card (fixed key order, rounded floats).
Same seed => byte-identical ``credit_risk.onnx`` and ``model_card.json``, on any machine with the
same library versions (recorded in the card).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # allow `python scripts/train_model.py` from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from service.drift.buckets import decile_shares
from service.pipeline.features import FEATURE_NAMES, engineer_features, monthly_installment
from service.pipeline.vocabulary import (
    CATEGORICAL_FIELDS,
    HOME_OWNERSHIP,
    LOAN_TERMS,
    NUMERIC_FIELDS,
    PURPOSES,
)

MODEL_NAME = "credit-risk"
MODEL_VERSION = "1.0.0"
DEFAULT_SEED = 20240601
DEFAULT_ROWS = 20_000
HOLDOUT_FRACTION = 0.2
THRESHOLD = 0.5
INPUT_NAME = "features"
LABEL_OUTPUT = "label"
PROBA_OUTPUT = "probabilities"
ONNX_FILE = "credit_risk.onnx"
CARD_FILE = "model_card.json"
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
GBM_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "max_depth": 3,
    "learning_rate": 0.1,
    "subsample": 0.8,
    "min_samples_leaf": 40,
}
DECILES = np.linspace(0.1, 0.9, 9)
BUCKET_RULE = (
    "bucket_shares[i] is the share of training values v in bucket q{i:02d}: "
    "decile_edges[i-1] < v <= decile_edges[i] (q00: v <= decile_edges[0]; q09: v > decile_edges[8]); "
    "see service/drift/buckets.py"
)

# Mirrors the request schema (service/api/schemas.py) so the card documents the contract.
INPUT_CONSTRAINTS: dict[str, dict[str, Any]] = {
    "age": {"type": "integer", "minimum": 18, "maximum": 100},
    "annual_income": {"type": "number", "exclusiveMinimum": 0},
    "loan_amount": {"type": "number", "exclusiveMinimum": 0},
    "loan_term_months": {"type": "integer", "enum": list(LOAN_TERMS)},
    "employment_years": {"type": "number", "minimum": 0, "maximum": 60},
    "credit_history_months": {"type": "integer", "minimum": 0, "maximum": 900},
    "open_accounts": {"type": "integer", "minimum": 0, "maximum": 100},
    "delinquencies_2y": {"type": "integer", "minimum": 0, "maximum": 50},
    "debt_to_income": {"type": "number", "minimum": 0, "maximum": 100, "unit": "percent"},
    "home_ownership": {"type": "string", "enum": list(HOME_OWNERSHIP)},
    "purpose": {"type": "string", "enum": list(PURPOSES)},
}


PURPOSE_SHARES = (0.38, 0.20, 0.12, 0.10, 0.06, 0.05, 0.09)
TERM_SHARES = (0.08, 0.17, 0.40, 0.10, 0.25)
# Per-category effects on the default log-odds, in vocabulary order.
HOME_RISK = (0.35, -0.25, -0.30, 0.45)
PURPOSE_RISK = (0.20, 0.05, -0.25, -0.35, 0.50, 1.10, 0.15)
# Typical principal as a share of income, per purpose (small-business loans run large).
PURPOSE_LOAN_SHARE = (0.30, 0.18, 0.30, 0.35, 0.12, 0.45, 0.15)
INTERCEPT = -2.0


def _sample_rows(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One categorical draw per row from row-specific logits (vectorised inverse CDF)."""
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    drawn: np.ndarray = np.minimum((rng.random((logits.shape[0], 1)) > cumulative).sum(axis=1), logits.shape[1] - 1)
    return drawn


def generate_dataset(seed: int = DEFAULT_SEED, n: int = DEFAULT_ROWS) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Synthetic loan applications -> (raw columns as the service receives them, 0/1 default labels).

    Marginals follow typical consumer-loan books: ages 18-80 around 40, lognormal incomes
    (median ~58k, rising with tenure and mortgages), principal a purpose-dependent share
    of income, 36- and 60-month terms most common, DTI mostly 5-35 %. Default log-odds rise
    with the installment burden, DTI (with an extra jump above 40 %), recent delinquencies,
    youth, renting, risky purposes and 60-month terms, and fall with income, tenure and credit
    history. An unobserved borrower trait adds noise (and drives delinquencies and DTI a
    little), so the signal is real but imperfect: holdout AUC lands near 0.8.
    """
    rng = np.random.default_rng(seed)
    age = np.clip(np.rint(rng.normal(40.0, 11.5, n)), 18, 80)
    adult_years = age - 18.0
    employment = np.round(np.minimum(rng.gamma(1.8, 3.2, n), adult_years), 1)
    tilt = (age - 40.0) / 12.0  # older applicants own or have a mortgage more often
    home_logits = np.column_stack([0.4 - 0.6 * tilt, -1.2 + 0.5 * tilt, 0.2 + 0.5 * tilt, np.full(n, -2.0)])
    home = _sample_rows(rng, home_logits)
    log_income = np.log(48_000.0) + 0.025 * np.minimum(employment, 25.0) + 0.15 * (home == HOME_OWNERSHIP.index("MORTGAGE"))
    income = np.round(np.clip(rng.lognormal(log_income, 0.5), 8_000.0, 1_500_000.0), -2)
    purpose = rng.choice(len(PURPOSES), n, p=PURPOSE_SHARES)
    principal = income * np.asarray(PURPOSE_LOAN_SHARE)[purpose] * rng.lognormal(0.0, 0.45, n)
    loan_amount = np.round(np.clip(principal, 1_000.0, 150_000.0) / 50.0) * 50.0
    term = np.asarray(LOAN_TERMS, dtype=np.float64)[rng.choice(len(LOAN_TERMS), n, p=TERM_SHARES)]
    history = np.minimum(np.rint(adult_years * 12.0 * rng.beta(4.0, 2.0, n)), 900.0)
    open_accounts = np.minimum(rng.poisson(1.5 + history / 48.0), 40).astype(np.float64)
    trait = rng.normal(0.0, 1.0, n)  # unobserved: payment discipline, volatility, luck
    delinquencies = np.minimum(rng.poisson(0.18 * np.exp(0.7 * trait)), 15).astype(np.float64)
    dti = np.round(np.clip(rng.normal(17.0 + 2.0 * trait, 7.5), 0.0, 65.0), 1)

    installment_ratio = monthly_installment(loan_amount, term) * 12.0 / income
    log_odds = (
        INTERCEPT
        + 7.0 * installment_ratio
        + 0.06 * (dti - 17.0)
        + 1.0 * (dti > 40.0)
        + 0.7 * np.minimum(delinquencies, 4.0)
        - 0.5 * np.log(income / 48_000.0)
        - 0.08 * np.minimum(employment, 10.0)
        - 0.4 * np.minimum(history / 120.0, 3.0)
        + 0.6 * (age < 25.0)
        + np.asarray(HOME_RISK)[home]
        + np.asarray(PURPOSE_RISK)[purpose]
        + 0.35 * (term == 60.0)
        + 0.4 * trait
    )
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-log_odds))).astype(np.int64)
    raw = {
        "age": age,
        "annual_income": income,
        "loan_amount": loan_amount,
        "loan_term_months": term,
        "employment_years": employment,
        "credit_history_months": history,
        "open_accounts": open_accounts,
        "delinquencies_2y": delinquencies,
        "debt_to_income": dti,
        "home_ownership": np.asarray(HOME_OWNERSHIP)[home],
        "purpose": np.asarray(PURPOSES)[purpose],
    }
    return raw, labels


@dataclass(frozen=True)
class TrainingResult:
    """The fitted model plus everything the card and the parity test need."""

    model: Any
    raw_train: dict[str, np.ndarray]
    x_train: np.ndarray
    y_train: np.ndarray
    x_holdout: np.ndarray
    y_holdout: np.ndarray
    holdout_auc: float
    seed: int
    n_rows: int


def split_indices(n: int, seed: int, fraction: float = HOLDOUT_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed shuffle split -> (train indices, holdout indices), both sorted."""
    order = np.random.default_rng(seed + 1).permutation(n)
    n_holdout = round(n * fraction)
    return np.sort(order[n_holdout:]), np.sort(order[:n_holdout])


def train(seed: int = DEFAULT_SEED, n_rows: int = DEFAULT_ROWS) -> TrainingResult:
    """Generate, split, engineer features, fit, and score the holdout."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    raw, labels = generate_dataset(seed, n_rows)
    train_idx, holdout_idx = split_indices(n_rows, seed)
    features = engineer_features(raw)
    model = GradientBoostingClassifier(random_state=seed, **GBM_PARAMS)
    model.fit(features[train_idx], labels[train_idx])
    x_holdout = features[holdout_idx]
    auc = float(roc_auc_score(labels[holdout_idx], model.predict_proba(x_holdout)[:, 1]))
    return TrainingResult(
        model=model,
        raw_train={name: column[train_idx] for name, column in raw.items()},
        x_train=features[train_idx],
        y_train=labels[train_idx],
        x_holdout=x_holdout,
        y_holdout=labels[holdout_idx],
        holdout_auc=auc,
        seed=seed,
        n_rows=n_rows,
    )


def export_onnx(model: Any) -> bytes:
    """Convert to ONNX with deterministic metadata; returns the serialized model."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert_sklearn(
        model,
        name=MODEL_NAME,  # the default is a random uuid4, which would break reproducibility
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(FEATURE_NAMES)]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
        doc_string="",
    )
    # skl2onnx fills opset_import from a set, so its order follows PYTHONHASHSEED: sort it.
    opsets = sorted((o.domain, o.version) for o in onnx_model.opset_import)
    del onnx_model.opset_import[:]
    for domain, version in opsets:
        onnx_model.opset_import.add(domain=domain, version=version)
    onnx_model.model_version = int(MODEL_VERSION.split(".")[0])
    onnx_model.doc_string = f"{MODEL_NAME} {MODEL_VERSION}: P(default) from {len(FEATURE_NAMES)} engineered features"
    del onnx_model.metadata_props[:]
    for key, value in (("model_name", MODEL_NAME), ("model_version", MODEL_VERSION)):
        onnx_model.metadata_props.add(key=key, value=value)
    outputs = [o.name for o in onnx_model.graph.output]
    if outputs != [LABEL_OUTPUT, PROBA_OUTPUT]:
        raise RuntimeError(f"unexpected ONNX outputs {outputs}")
    return bytes(onnx_model.SerializeToString(deterministic=True))


def opset_imports(onnx_bytes: bytes) -> dict[str, int]:
    """The opsets the exported graph really uses (skl2onnx lowers below the target when it can)."""
    import onnx

    return {o.domain or "ai.onnx": int(o.version) for o in onnx.load_from_string(onnx_bytes).opset_import}


def _round(values: np.ndarray | float, digits: int = 6) -> Any:
    """Round for the card: stable text across platforms, still precise enough for drift."""
    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


def reference_statistics(result: TrainingResult) -> dict[str, Any]:
    """Training-data statistics the service's drift monitor compares live traffic with."""
    numeric = {}
    for name in NUMERIC_FIELDS:
        column = result.raw_train[name]
        edges = _round(np.quantile(column, DECILES))
        numeric[name] = {
            "decile_edges": edges,
            "bucket_shares": _round(decile_shares(edges, column)),  # against the rounded edges the service uses
            "min": _round(column.min()),
            "max": _round(column.max()),
            "mean": _round(column.mean()),
        }
    categorical = {}
    for name, categories in zip(CATEGORICAL_FIELDS, (HOME_OWNERSHIP, PURPOSES), strict=True):
        column = result.raw_train[name]
        categorical[name] = {c: _round(np.mean(column == c)) for c in categories}
    scores = result.model.predict_proba(result.x_train)[:, 1]
    score_edges = _round(np.quantile(scores, DECILES))
    return {
        "source": "training split",
        "rows": int(result.y_train.shape[0]),
        "buckets": BUCKET_RULE,
        "numeric": numeric,
        "categorical": categorical,
        "score": {
            "decile_edges": score_edges,
            "bucket_shares": _round(decile_shares(score_edges, scores)),
            "mean": _round(scores.mean()),
            "positive_rate_at_threshold": _round(np.mean(scores >= THRESHOLD)),
        },
    }


def build_model_card(result: TrainingResult, onnx_bytes: bytes) -> dict[str, Any]:
    """The JSON the service serves at ``GET /model`` and uses for telemetry and drift."""
    import skl2onnx
    import sklearn

    return {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "description": "Gradient-boosted trees scoring P(default) of a consumer loan application.",
        "created_from": {
            "script": "scripts/train_model.py",
            "seed": result.seed,
            "dataset": f"synthetic, generate_dataset(seed, {result.n_rows}), holdout {HOLDOUT_FRACTION:.0%}",
            "estimator": "sklearn.ensemble.GradientBoostingClassifier",
            "estimator_params": GBM_PARAMS,
            "scikit_learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "numpy": np.__version__,
        },
        "input_schema": [{"field": name, **INPUT_CONSTRAINTS[name]} for name in NUMERIC_FIELDS + CATEGORICAL_FIELDS],
        "feature_names": list(FEATURE_NAMES),
        "onnx": {
            "file": ONNX_FILE,
            "size_bytes": len(onnx_bytes),
            "opset_import": opset_imports(onnx_bytes),
            "input": {"name": INPUT_NAME, "type": "float32", "shape": [None, len(FEATURE_NAMES)]},
            "outputs": [
                {"name": LABEL_OUTPUT, "type": "int64", "shape": [None]},
                {"name": PROBA_OUTPUT, "type": "float32", "shape": [None, 2], "columns": ["no_default", "default"]},
            ],
        },
        "metrics": {
            "holdout_auc": round(result.holdout_auc, 4),
            "train_rows": int(result.y_train.shape[0]),
            "holdout_rows": int(result.y_holdout.shape[0]),
            "train_default_rate": _round(result.y_train.mean(), 4),
            "holdout_default_rate": _round(result.y_holdout.mean(), 4),
        },
        "threshold": THRESHOLD,
        "reference_statistics": reference_statistics(result),
    }


def card_bytes(card: dict[str, Any]) -> bytes:
    return (json.dumps(card, indent=2) + "\n").encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT / "service" / "model")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    result = train(args.seed, args.rows)
    trained = time.perf_counter() - started
    onnx_bytes = export_onnx(result.model)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / ONNX_FILE).write_bytes(onnx_bytes)
    (args.out_dir / CARD_FILE).write_bytes(card_bytes(build_model_card(result, onnx_bytes)))
    print(
        f"holdout AUC {result.holdout_auc:.4f} | train {result.y_train.shape[0]} rows, "
        f"default rate {result.y_train.mean():.3f} | fit {trained:.1f}s | "
        f"{ONNX_FILE} {len(onnx_bytes) / 1024:.0f} KiB -> {args.out_dir}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

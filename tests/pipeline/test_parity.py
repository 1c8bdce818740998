"""The committed ONNX model scores exactly like the scikit-learn model it was exported from.

The sklearn model is rebuilt with the training script's own functions (deterministic, ~7 s),
then the holdout is scored by both and compared, so an export or feature-pipeline drift
between training and serving shows up here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from scripts.train_model import DEFAULT_SEED, TrainingResult, train
from service.pipeline.features import FEATURE_NAMES

MODEL_DIR = Path(__file__).resolve().parents[2] / "service" / "model"


@pytest.fixture(scope="module")
def trained() -> Iterator[TrainingResult]:
    yield train(DEFAULT_SEED)


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(str(MODEL_DIR / "credit_risk.onnx"), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def card() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MODEL_DIR / "model_card.json").read_text())
    return loaded


def test_onnx_probability_of_default_matches_sklearn(trained: TrainingResult, session: ort.InferenceSession) -> None:
    label, probabilities = session.run(["label", "probabilities"], {"features": trained.x_holdout})
    expected = trained.model.predict_proba(trained.x_holdout)
    assert probabilities.shape == (trained.x_holdout.shape[0], 2)
    np.testing.assert_allclose(probabilities[:, 1], expected[:, 1], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, trained.model.predict(trained.x_holdout))


def test_onnx_signature_matches_the_card(session: ort.InferenceSession, card: dict[str, Any]) -> None:
    (model_input,) = session.get_inputs()
    assert (model_input.name, model_input.type) == ("features", "tensor(float)")
    assert model_input.shape[1] == len(FEATURE_NAMES) == 28
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    assert card["onnx"]["input"]["name"] == model_input.name
    assert [o["name"] for o in card["onnx"]["outputs"]] == ["label", "probabilities"]
    assert tuple(card["feature_names"]) == FEATURE_NAMES


def test_model_has_real_signal_and_card_reports_it(trained: TrainingResult, card: dict[str, Any]) -> None:
    assert trained.holdout_auc > 0.75
    assert card["metrics"]["holdout_auc"] == round(trained.holdout_auc, 4)
    assert card["metrics"]["holdout_rows"] == trained.x_holdout.shape[0]
    assert card["metrics"]["train_rows"] == trained.x_train.shape[0]


def test_scores_rank_defaulters_above_repayers(trained: TrainingResult, session: ort.InferenceSession) -> None:
    (probabilities,) = session.run(["probabilities"], {"features": trained.x_holdout})
    scores = probabilities[:, 1]
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert scores[trained.y_holdout == 1].mean() > scores[trained.y_holdout == 0].mean() + 0.1

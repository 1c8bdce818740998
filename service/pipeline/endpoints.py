"""The three scoring endpoints and the JSON body each one answers with (the serialization stage)."""

from __future__ import annotations

from enum import Enum

import numpy as np
import orjson


class Endpoint(Enum):
    """Which answer a request wants: one row's class, one row's probabilities, or a batch."""

    PREDICT = "predict"
    PREDICT_PROBA = "predict_proba"
    BATCH = "batch"


def serialize(endpoint: Endpoint, probabilities: np.ndarray, labels: np.ndarray, model_version: str) -> bytes:
    """The response body of ``endpoint`` for scored rows: P(default) per row and its 0/1 label."""
    if endpoint is Endpoint.PREDICT:
        return orjson.dumps(
            {"prediction": int(labels[0]), "probability": float(probabilities[0]), "model_version": model_version}
        )
    if endpoint is Endpoint.PREDICT_PROBA:
        p = float(probabilities[0])
        return orjson.dumps({"probabilities": {"no_default": 1.0 - p, "default": p}, "model_version": model_version})
    predictions = [
        {"prediction": label, "probability": probability}
        for label, probability in zip(labels.tolist(), probabilities.tolist(), strict=True)
    ]
    return orjson.dumps({"predictions": predictions, "model_version": model_version})

"""The credit-risk service's own telemetry names and instruments (the generic ones live in ``otel``).

Attribute names use this project's ``ml.*`` namespace where no semantic convention exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otel.fastmetrics import FastMetrics

ML_MODEL_NAME: Final = "ml.model.name"
ML_MODEL_VERSION: Final = "ml.model.version"
ML_BATCH_SIZE: Final = "ml.batch.size"
ML_PREDICTION_CLASS: Final = "ml.prediction.class"
ML_PREDICTION_COUNT: Final = "ml.prediction.count"
ML_FAULT_INJECTION: Final = "ml.fault_injection"
ML_FAULT_SETTING: Final = "ml.fault.{}"  # resource, with fault injection on: each FAULT_* setting (ml.fault.slow_feature_ms)
ML_INPUT_SHAPE: Final = "ml.onnx.input_shape"
ML_EXECUTION_PROVIDER: Final = "ml.onnx.execution_provider"
ML_INTRA_OP_THREADS: Final = "ml.onnx.intra_op_threads"
ML_INTER_OP_THREADS: Final = "ml.onnx.inter_op_threads"
ML_FEATURE: Final = "ml.feature"  # drift: raw input field name, or "score"
ML_BUCKET: Final = "ml.bucket"  # drift: reference decile bucket (q00..q09) or category

SCORE_BUCKETS: Final = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
BATCH_SIZE_BUCKETS: Final = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
CLASSES: Final = ("0", "1")
"""The model's predicted classes, as ``ml.prediction.class`` values (label 0: no default, 1: default)."""


class MLInstruments:
    """Predictions, scores, batch sizes (pre-aggregated: they are on every request) and model status.

    Built from the app's ``meter`` and ``FastMetrics``; ``model_loaded`` is what ``ml.model.loaded`` reports.
    """

    def __init__(self, meter: Meter, fast: FastMetrics) -> None:
        predictions = fast.counter("ml.predictions", "{prediction}", "Predictions made, by predicted class.")
        self._classes = (
            predictions.point({ML_PREDICTION_CLASS: CLASSES[0]}),
            predictions.point({ML_PREDICTION_CLASS: CLASSES[1]}),
        )
        self._score = fast.histogram(
            "ml.prediction.score", "1", "Predicted probability of the positive class.", SCORE_BUCKETS
        ).point()
        self._batch_size = fast.histogram("ml.batch.size", "{row}", "Rows scored per request.", BATCH_SIZE_BUCKETS).point()
        self.model_loaded = 0
        meter.create_observable_gauge(
            "ml.model.loaded", callbacks=[self._observe_loaded], unit="", description="1 when the model is loaded and warmed up."
        )

    def _observe_loaded(self, options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self.model_loaded)

    def record_predictions(self, probabilities: np.ndarray, labels: np.ndarray) -> None:
        """One batch of scores: a few records per request however many rows it has."""
        rows = len(labels)
        self._batch_size.record(rows)
        if rows == 1:  # most requests: numpy reductions over one element cost more than the rest together
            self._classes[int(labels[0])].add(1)
            self._score.record(float(probabilities[0]))
            return
        positives = int(np.count_nonzero(labels))  # labels are 0/1; cheaper than a sum
        if positives:
            self._classes[1].add(positives)
        if rows - positives:
            self._classes[0].add(rows - positives)
        self._score.record_many(probabilities)

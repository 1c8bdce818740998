"""Scores one request's validated rows, each step under its ``stage()`` span.

Read top to bottom, this is the request path after validation (``service.api.validation``):
engineer features → infer → serialize.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from opentelemetry.util.types import AttributeValue

from otel import current_request, stage
from otel.failures import FailureLog
from service.config import Settings
from service.drift.recorder import DriftRecorder
from service.pipeline.endpoints import Endpoint, serialize
from service.pipeline.faults import inference_fault, slow_feature_fault
from service.pipeline.features import columns_from_records, engineer_features
from service.pipeline.model import OnnxModel
from service.telemetry import (
    ML_BATCH_SIZE,
    ML_EXECUTION_PROVIDER,
    ML_INPUT_SHAPE,
    ML_INTER_OP_THREADS,
    ML_INTRA_OP_THREADS,
    ML_PREDICTION_COUNT,
    MLInstruments,
)

log = logging.getLogger(__name__)


class Pipeline:
    """The model plus everything a request needs to be scored; one per process."""

    def __init__(
        self, model: OnnxModel, settings: Settings, instruments: MLInstruments | None, drift: DriftRecorder | None = None
    ) -> None:
        self.model = model
        self.settings = settings
        self.instruments = instruments
        self.drift = drift
        self.threshold = float(model.card.raw.get("threshold", 0.5))
        self._rng = random.Random()
        self._drift_failures = FailureLog(log, "drift bucket counting", "predictions are served without it")
        # Injected slow work would stall every other request if it ran on the event loop.
        self._inline = settings.inline_single_rows and settings.fault_slow_feature_ms == 0
        self._inference_attributes: dict[str, AttributeValue] = {
            ML_EXECUTION_PROVIDER: model.providers[0],
            ML_INTRA_OP_THREADS: model.intra_op_threads,
            ML_INTER_OP_THREADS: model.inter_op_threads,
        }

    def runs_inline(self, endpoint: Endpoint, body_bytes: int) -> bool:
        """Whether to validate and ``run`` a request on the event loop rather than in the thread pool.

        Takes the endpoint and the size of the request body in bytes. One row, or a batch body of at most
        ``INLINE_BATCH_MAX_BYTES`` (a dozen rows or so), is less work than the hand-off to a pool thread and
        back (BENCHMARKS.md); a larger batch would hold up every other request on this worker.
        """
        if not self._inline:
            return False
        return endpoint is not Endpoint.BATCH or body_bytes <= self.settings.inline_batch_max_bytes

    def run(self, endpoint: Endpoint, rows: Sequence[Mapping[str, Any]]) -> bytes:
        """The response body of ``endpoint`` for validated ``rows``; raises ``ModelError`` when inference fails."""
        settings = self.settings
        with stage("feature_engineering", **{ML_BATCH_SIZE: len(rows)}):
            columns = columns_from_records(rows)
            features = engineer_features(columns)
            if settings.fault_slow_feature_ms > 0:
                slow_feature_fault(settings.fault_slow_feature_ms)

        with stage("onnx_inference", **{ML_BATCH_SIZE: len(rows)}, **self._inference_attributes) as inferring:
            inferring.set_attribute(ML_INPUT_SHAPE, list(features.shape))
            if settings.fault_error_rate > 0:
                inference_fault(settings.fault_error_rate, self._rng)
            probabilities = self.model.predict_default_proba(features)

        labels = (probabilities >= self.threshold).astype(np.int64)
        self._record(probabilities, labels)
        self._record_drift(rows, columns, probabilities, features)

        with stage("serialization", **{ML_BATCH_SIZE: len(rows)}):
            return serialize(endpoint, probabilities, labels, self.model.card.version)

    def _record(self, probabilities: np.ndarray, labels: np.ndarray) -> None:
        if self.instruments is not None:
            self.instruments.record_predictions(probabilities, labels)
        request = current_request()
        if request is not None:
            request.log_attributes[ML_PREDICTION_COUNT] = len(labels)

    def _record_drift(
        self, rows: Sequence[Mapping[str, Any]], columns: Mapping[str, np.ndarray], scores: np.ndarray, features: np.ndarray
    ) -> None:
        """Telemetry must not fail a prediction: a broken drift record is logged, never raised."""
        if self.drift is None:
            return
        try:
            self.drift.record(rows, columns, scores, features)
        except Exception:  # noqa: BLE001 - a bug, surfaced in the log (once, then at DEBUG) instead of a 500
            self._drift_failures("Pipeline.run")

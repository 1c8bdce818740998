"""Attribute names and bucket layouts: semantic-convention names where one exists, ``ml.*`` otherwise."""

from __future__ import annotations

from typing import Final

# Semantic conventions
ERROR_TYPE: Final = "error.type"
HTTP_ROUTE: Final = "http.route"
HTTP_METHOD: Final = "http.request.method"
HTTP_STATUS: Final = "http.response.status_code"
SERVICE_VERSION: Final = "service.version"

# This project's ML namespace
ML_STAGE: Final = "ml.stage"
ML_MODEL_NAME: Final = "ml.model.name"
ML_MODEL_VERSION: Final = "ml.model.version"
ML_BATCH_SIZE: Final = "ml.batch.size"
ML_PREDICTION_CLASS: Final = "ml.prediction.class"
ML_PREDICTION_COUNT: Final = "ml.prediction.count"
ML_VALIDATION_FIELDS: Final = "ml.validation.fields"
ML_FAULT_INJECTION: Final = "ml.fault_injection"
ML_FAULT_SETTING: Final = "ml.fault.{}"  # resource, with fault injection on: each FAULT_* setting (ml.fault.slow_feature_ms)
ML_INPUT_SHAPE: Final = "ml.onnx.input_shape"
ML_EXECUTION_PROVIDER: Final = "ml.onnx.execution_provider"
ML_INTRA_OP_THREADS: Final = "ml.onnx.intra_op_threads"
ML_INTER_OP_THREADS: Final = "ml.onnx.inter_op_threads"
ML_FEATURE: Final = "ml.feature"  # drift: raw input field name, or "score"
ML_BUCKET: Final = "ml.bucket"  # drift: reference decile bucket (q00..q09) or category

# Stages take microseconds to milliseconds; whole requests up to seconds.
LATENCY_BUCKETS_S: Final = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
SCORE_BUCKETS: Final = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
BATCH_SIZE_BUCKETS: Final = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)

"""The four request stages, each a plain function: validation, feature engineering, inference, serialization.

They know nothing about telemetry; ``runner.Pipeline`` wraps each in a ``stage()`` span.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import numpy as np
import orjson
from pydantic import TypeAdapter, ValidationError

from service.errors import InvalidRequest, ModelError
from service.pipeline.features import columns_from_records, engineer_features
from service.pipeline.model import OnnxModel


class Endpoint(str, Enum):
    PREDICT = "predict"
    PREDICT_PROBA = "predict_proba"
    BATCH = "batch"


# --- validation ------------------------------------------------------------------------------


def validate(body: bytes, adapter: TypeAdapter[Any], batch: bool) -> list[dict[str, Any]]:
    """Parse and check the JSON body in one pass; errors name field and rule, never the value."""
    try:
        parsed = adapter.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=True)
        shown = errors[:MAX_REPORTED_ERRORS]
        for error in shown:
            error["loc"] = ["body", *(_short(part) for part in error["loc"])]
        if len(errors) > len(shown):
            more = len(errors) - len(shown)
            shown.append({"type": "too_many_errors", "loc": ["body"], "msg": f"{more} more invalid field(s) not listed"})
        malformed = any(error["type"] == "json_invalid" for error in shown)
        raise InvalidRequest(_jsonable(shown), status_code=400 if malformed else 422) from None
    return parsed["instances"] if batch else [parsed]


MAX_REPORTED_ERRORS = 20
"""A hostile body can fail thousands of times (1000 rows x 11 fields, or 50 000 extra keys): listing
every error turned 10 kB into a 1 MB answer and a span event too big for a collector batch."""
MAX_LOC_CHARS = 64
"""An extra key is the client's string; it is named in ``loc`` (and on the span), so it is shortened."""


def _short(part: Any) -> Any:
    return part if not isinstance(part, str) or len(part) <= MAX_LOC_CHARS else part[:MAX_LOC_CHARS] + "…"


def _jsonable(errors: list[Any]) -> list[dict[str, Any]]:
    """pydantic's error ``ctx`` may hold exception objects; keep only JSON-safe scalars."""
    clean = []
    for error in errors:
        ctx = error.get("ctx")
        if ctx is not None:
            error["ctx"] = {k: v if isinstance(v, (int, float, str, bool, type(None), list)) else str(v) for k, v in ctx.items()}
        clean.append(error)
    return clean


# --- feature engineering ---------------------------------------------------------------------


def build_features(rows: Sequence[dict[str, Any]], slow_fault_ms: float = 0.0) -> np.ndarray:
    return features_from_columns(columns_from_records(rows), slow_fault_ms)


def features_from_columns(columns: Mapping[str, np.ndarray], slow_fault_ms: float = 0.0) -> np.ndarray:
    """The model matrix from raw columns (the runner keeps the columns for drift counting)."""
    features = engineer_features(columns)
    if slow_fault_ms > 0:
        slow_feature_fault(slow_fault_ms)
    return features


def slow_feature_fault(milliseconds: float) -> int:
    """Fault injection: deliberately slow pure-Python arithmetic, so profilers have a real culprit."""
    deadline = time.perf_counter() + milliseconds / 1000.0
    total = 0
    while time.perf_counter() < deadline:
        for value in range(500):
            total = (total + value * value) % 1_000_003
    return total


def block_event_loop(milliseconds: float) -> None:
    """Fault injection (FAULT_BLOCK_LOOP_MS): hold the calling thread, i.e. the event loop when called from a route.

    A sleep, not CPU work: what a blocking call (a synchronous client, a lock) in async code does; every
    other request on this worker waits, and ``asyncio.event_loop.lag`` shows it.
    """
    time.sleep(milliseconds / 1000.0)


# --- inference -------------------------------------------------------------------------------


class InjectedFault(ModelError):
    """Fault injection: a deliberate inference failure (FAULT_ERROR_RATE)."""

    error_type = "injected_fault"


def infer(model: OnnxModel, features: np.ndarray, error_rate: float = 0.0, rng: random.Random | None = None) -> np.ndarray:
    if error_rate > 0 and (rng or random).random() < error_rate:
        raise InjectedFault("injected inference failure (FAULT_ERROR_RATE)")
    return model.predict_default_proba(features)


# --- serialization ---------------------------------------------------------------------------


def serialize(endpoint: Endpoint, probabilities: np.ndarray, labels: np.ndarray, model_version: str) -> bytes:
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

"""Latency of the ONNX inference stage against scikit-learn's ``predict_proba`` on the same rows.

The scikit-learn model is retrained in-process with ``scripts/train_model.py``'s ``train()``
(deterministic, the estimator the committed ONNX file was exported from), and both score the same
engineered float32 matrix: rows drawn by the load generator's population, run through the
service's own feature engineering. The ONNX side is ``OnnxModel.predict_default_proba``, the body
of the ``onnx_inference`` stage, with the service's session options (1 intra-op, 1 inter-op thread).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scripts.train_model import DEFAULT_SEED, train
from service.config import DEFAULT_MODEL_PATH
from service.loadgen.bodies import BASELINE
from service.pipeline.features import build_features
from service.pipeline.model import OnnxModel


@dataclass(frozen=True)
class Timing:
    median_us: float
    p99_us: float
    calls: int


@dataclass(frozen=True)
class InferenceComparison:
    onnx_single: Timing
    sklearn_single: Timing
    onnx_batch: Timing
    sklearn_batch: Timing
    batch_rows: int
    max_abs_diff: float
    train_seconds: float

    @property
    def single_speedup(self) -> float:
        return self.sklearn_single.median_us / self.onnx_single.median_us

    @property
    def batch_speedup(self) -> float:
        return self.sklearn_batch.median_us / self.onnx_batch.median_us

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["single_speedup"], out["batch_speedup"] = self.single_speedup, self.batch_speedup
        return out


def time_calls(call: Callable[[], Any], repeats: int, warmup: int = 20) -> Timing:
    for _ in range(warmup):
        call()
    durations = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        call()
        durations.append((time.perf_counter_ns() - start) / 1000)
    durations.sort()
    return Timing(statistics.median(durations), durations[min(len(durations) - 1, int(len(durations) * 0.99))], repeats)


def compare(single_repeats: int = 2000, batch_rows: int = 1000, batch_repeats: int = 50, seed: int = 11) -> InferenceComparison:
    started = time.perf_counter()
    sklearn_model = train(DEFAULT_SEED).model
    train_seconds = time.perf_counter() - started
    onnx = OnnxModel.load(DEFAULT_MODEL_PATH)
    rng = random.Random(seed)
    batch = build_features([BASELINE.application(rng) for _ in range(batch_rows)])
    singles = [batch[i : i + 1] for i in range(min(batch_rows, 256))]
    expected = sklearn_model.predict_proba(batch)[:, 1]
    max_abs_diff = float(np.max(np.abs(onnx.predict_default_proba(batch) - expected)))

    def cycling(score: Callable[[np.ndarray], Any]) -> Callable[[], Any]:
        position = 0

        def call() -> Any:
            nonlocal position
            position = (position + 1) % len(singles)
            return score(singles[position])

        return call

    return InferenceComparison(
        onnx_single=time_calls(cycling(onnx.predict_default_proba), single_repeats),
        sklearn_single=time_calls(cycling(sklearn_model.predict_proba), single_repeats),
        onnx_batch=time_calls(lambda: onnx.predict_default_proba(batch), batch_repeats, warmup=3),
        sklearn_batch=time_calls(lambda: sklearn_model.predict_proba(batch), batch_repeats, warmup=3),
        batch_rows=batch_rows,
        max_abs_diff=max_abs_diff,
        train_seconds=train_seconds,
    )

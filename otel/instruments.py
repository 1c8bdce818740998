"""Typed ML and process instruments, built from an injected meter (never at import time)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
import psutil
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otel.attributes import BATCH_SIZE_BUCKETS, ML_PREDICTION_CLASS, SCORE_BUCKETS
from otel.fastmetrics import FastMetrics

_CLASS_ATTRIBUTES = ({ML_PREDICTION_CLASS: "0"}, {ML_PREDICTION_CLASS: "1"})


class MLInstruments:
    """Predictions, scores, batch sizes (pre-aggregated: they are on every request) and model status."""

    def __init__(self, meter: Meter, fast: FastMetrics) -> None:
        predictions = fast.counter("ml.predictions", "{prediction}", "Predictions made, by predicted class.")
        self._classes = (predictions.point(_CLASS_ATTRIBUTES[0]), predictions.point(_CLASS_ATTRIBUTES[1]))
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


class ProcessInstruments:
    """CPU time, CPU utilisation and resident memory of this process (semconv ``process.*``)."""

    def __init__(self, meter: Meter) -> None:
        self._process = psutil.Process()
        self._lock = threading.Lock()
        self._process.cpu_percent(None)  # primes the utilisation baseline
        meter.create_observable_counter(
            "process.cpu.time", callbacks=[self._cpu_time], unit="s", description="CPU seconds used, by mode."
        )
        meter.create_observable_gauge(
            "process.cpu.utilization",
            callbacks=[self._cpu_utilization],
            unit="1",
            description="CPU used since the last collection, per core count.",
        )
        meter.create_observable_up_down_counter(
            "process.memory.usage", callbacks=[self._memory], unit="By", description="Resident set size."
        )

    def _cpu_time(self, options: CallbackOptions) -> Iterable[Observation]:
        times = self._process.cpu_times()
        return [Observation(times.user, {"cpu.mode": "user"}), Observation(times.system, {"cpu.mode": "system"})]

    def _cpu_utilization(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            percent = self._process.cpu_percent(None)
        return [Observation(percent / 100.0 / (psutil.cpu_count() or 1))]

    def _memory(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self._process.memory_info().rss)]

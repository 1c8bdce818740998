"""Process instruments (semconv ``process.*``), built from an injected meter (never at import time)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import psutil
from opentelemetry.metrics import CallbackOptions, Meter, Observation


class ProcessInstruments:
    """CPU time, CPU utilisation and resident memory of this process (semconv ``process.*``)."""

    def __init__(self, meter: Meter) -> None:
        """Register the observable instruments on ``meter``; they read this process at each collection."""
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

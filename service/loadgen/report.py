"""Recording results during a run, and the finished ``LoadReport`` (summary table, JSON).

The recorder is the in-progress object (it sits on the hot path, so it only appends a float and
bumps a counter per request); ``LoadReport`` is the finished, serialisable result. Latencies
are kept exactly (8 bytes per request) so percentiles are exact, not bucketed.

Trace ids come from the ``traceresponse`` header (``00-<trace id>-<span id>-<flags>``): the
slowest N requests and the first failed ones are kept so they can be opened in Jaeger. Only
traces whose ``sampled`` flag is set were exported by the service.
"""

from __future__ import annotations

import heapq
import json
import math
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return math.nan
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def is_success(status: int | str) -> bool:
    return isinstance(status, int) and 200 <= status < 300


def meets_expectation(expect: str, status: int | str) -> bool:
    """Valid bodies must not be refused with a 4xx; invalid ones must be. 5xx are errors, not contract breaks."""
    if expect == "4xx":
        return isinstance(status, int) and 400 <= status < 500
    return not (isinstance(status, int) and 400 <= status < 500)


@dataclass
class LatencySummary:
    count: int
    mean: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencySummary:
        ms = sorted(v * 1000.0 for v in seconds)
        if not ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(ms), sum(ms) / len(ms), ms[0], percentile(ms, 50), percentile(ms, 90),
            percentile(ms, 95), percentile(ms, 99), ms[-1],
        )  # fmt: skip


@dataclass
class TraceRef:
    trace_id: str
    sampled: bool
    latency_ms: float
    kind: str
    status: str


@dataclass
class KindSummary:
    requests: int
    errors: int
    unexpected: int
    status_counts: dict[str, int]
    latency_ms: LatencySummary


@dataclass
class LoadReport:
    """Everything a run measured; ``to_dict()`` is the JSON report."""

    scenario: str
    url: str
    mode: str
    concurrency: int
    rate: float | None
    seed: int
    backend: str
    loop: str
    stopped_by: str
    duration_s: float
    requests: int
    not_sent: int
    errors: int
    unexpected: int
    throughput_rps: float
    rows_per_s: float
    status_counts: dict[str, int]
    latency_ms: LatencySummary
    by_kind: dict[str, KindSummary]
    slowest: list[TraceRef]
    failures: list[TraceRef]
    failures_total: int
    error_samples: dict[str, str]
    client_cpu_s: float
    client_cpu_us_per_request: float
    queue_delay_ms_max: float
    timeline: list[list[int]] = field(default_factory=list)
    server_hint: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(_finite(self.to_dict()), indent=2, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    """NaN (a percentile of nothing) becomes null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def parse_traceresponse(value: bytes | None) -> tuple[str, bool] | None:
    """``00-<trace>-<span>-<flags>`` -> (trace id, sampled); None when absent or malformed."""
    if not value:
        return None
    parts = value.split(b"-")
    if len(parts) != 4 or len(parts[1]) != 32:
        return None
    try:
        return parts[1].decode("ascii"), bool(int(parts[3], 16) & 1)
    except ValueError:
        return None


class Recorder:
    """Per-request results of the measured phase; cheap enough for the hot path."""

    def __init__(self, expectations: dict[str, str], slowest_n: int = 10, failures_n: int = 50) -> None:
        self.expectations = expectations
        self.latencies: dict[str, array[float]] = {kind: array("d") for kind in expectations}
        self.counts: dict[tuple[str, int | str], int] = {}
        self.rows_ok = 0
        self.failures_total = 0
        self.failures: list[TraceRef] = []
        self.error_samples: dict[str, str] = {}
        self.queue_delay_max = 0.0
        self.timeline: list[list[int]] = []  # per second of the measured phase: [answered, errors]
        self._slowest: list[tuple[float, int, str, int | str, bytes | None]] = []
        self._slowest_n = slowest_n
        self._failures_n = failures_n
        self._seq = 0

    def record(
        self, kind: str, rows: int, status: int | str, latency_s: float, trace: bytes | None, body: bytes | None, done_at_s: float
    ) -> None:
        """One answered (or failed) request; ``done_at_s`` is seconds since measuring began."""
        self.latencies[kind].append(latency_s)
        second = int(done_at_s)
        timeline = self.timeline
        while len(timeline) <= second:
            timeline.append([0, 0])
        timeline[second][0] += 1
        key = (kind, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        self._seq += 1
        if is_success(status):
            self.rows_ok += rows
        else:
            timeline[second][1] += 1
            self._failed(kind, status, latency_s, trace, body)
        slowest = self._slowest
        if len(slowest) < self._slowest_n:
            heapq.heappush(slowest, (latency_s, self._seq, kind, status, trace))
        elif latency_s > slowest[0][0]:
            heapq.heapreplace(slowest, (latency_s, self._seq, kind, status, trace))

    def _failed(self, kind: str, status: int | str, latency_s: float, trace: bytes | None, body: bytes | None) -> None:
        self.failures_total += 1
        if len(self.failures) < self._failures_n:
            self.failures.append(_trace_ref(latency_s, kind, status, trace))
        label = str(status)
        if label not in self.error_samples:
            self.error_samples[label] = body.decode("utf-8", "replace")[:500] if body else ""

    @property
    def completed(self) -> int:
        return sum(self.counts.values())

    def slowest(self) -> list[TraceRef]:
        ranked = sorted(self._slowest, key=lambda item: -item[0])
        return [_trace_ref(lat, kind, status, trace) for lat, _, kind, status, trace in ranked]

    def status_counts(self, kind: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for (k, status), n in sorted(self.counts.items(), key=lambda item: str(item[0][1])):
            if kind is None or k == kind:
                out[str(status)] = out.get(str(status), 0) + n
        return out

    def kind_summary(self, kind: str) -> KindSummary:
        counts = {status: n for (k, status), n in self.counts.items() if k == kind}
        expect = self.expectations[kind]
        return KindSummary(
            requests=sum(counts.values()),
            errors=sum(n for s, n in counts.items() if not is_success(s)),
            unexpected=sum(n for s, n in counts.items() if not meets_expectation(expect, s)),
            status_counts=self.status_counts(kind),
            latency_ms=LatencySummary.of(self.latencies[kind]),
        )


def _trace_ref(latency_s: float, kind: str, status: int | str, trace: bytes | None) -> TraceRef:
    parsed = parse_traceresponse(trace)
    trace_id, sampled = parsed if parsed else ("", False)
    return TraceRef(trace_id, sampled, round(latency_s * 1000.0, 3), kind, str(status))

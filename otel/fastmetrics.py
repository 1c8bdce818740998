"""Pre-aggregated instruments for the request path, merged into the SDK's collections.

Why: BENCHMARKS.md, "Where the CPU goes: telemetry pieces in isolation". An instrument resolves
its attribute set once (``point(...)`` returns a bound handle); a record is then a bisect, a lock and
three additions, and a whole batch of scores a locked append, counted with the next batches
(``PendingBatches``). At each collection the SDK reader still does the exporting:
``otel.compat.attach_reader`` makes it append these points (``FastMetrics.merge_into``) to the
``MetricsData`` it receives. Semantics match the SDK defaults: cumulative temporality, explicit
buckets with ``(lower, upper]`` bounds, min/max, and one exemplar per bucket (the latest) for
measurements taken while a sampled span was current.

When ``otel.compat.FAST_METRICS`` is off, ``FastMetrics(..., sdk_meter=meter)`` makes the same
instruments record through the SDK's own (same names, units, buckets, exemplars), slower.
"""

from __future__ import annotations

import logging
import os
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from time import time_ns
from typing import Any, Generic, TypeVar

import numpy as np
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext
from opentelemetry.util.types import AttributeValue

from otel.failures import FailureLog

Attributes = Mapping[str, AttributeValue]
T = TypeVar("T")
PENDING_ROWS_MAX = 2048
"""Rows of whole batches queued before they are counted (``HistogramPoint.record_many``, ``PendingBatches``)."""

log = logging.getLogger(__name__)


class PendingBatches(Generic[T]):
    """Whole batches queued on the request path and counted together by ``fold``, about ``max_rows`` rows at a time.

    Why: on a busy server each numpy call of a request's metrics costs many times its own work: it
    releases the GIL, which hands the interpreter to another thread, and runs cache-cold
    (BENCHMARKS.md, "batch metrics queued"). Queued, a batch costs its request a locked append. Once the
    queue holds ``max_rows`` rows, one background thread counts it (a request never waits for a
    count, which on a busy server waits for the GIL at each numpy call); past four times that, the
    request that adds counts it itself, so the queue stays bounded. ``flush`` counts everything
    queued before it returns, and every read of the metric calls it, so reads are exact.
    Items are kept by reference until counted: callers must not change them after ``add``.
    ``max_rows=0`` counts each batch as it is added. A ``fold`` that raises is logged (once at
    WARNING) and its batches are not counted; it never reaches the request or the metric reader.
    """

    def __init__(self, fold: Callable[[list[T]], None], max_rows: int, subject: str) -> None:
        self._fold = fold
        self._max_rows = max_rows
        self._items: list[T] = []
        self._rows = 0
        self._scheduled = False  # a background count is on its way
        self._lock = threading.Lock()  # guards the queue; held for an append only
        self._folding = threading.Lock()  # one fold at a time: a read waits for a fold in progress
        self._failures = FailureLog(log, f"counting queued batches of {subject}", "those batches are not counted")

    def add(self, item: T, rows: int) -> None:
        """Queue ``item`` (a batch of ``rows`` rows); see the class docstring for when it is counted."""
        with self._lock:
            self._items.append(item)
            self._rows += rows
            if self._rows < self._max_rows:
                return
            behind = self._rows >= 4 * self._max_rows  # also every add when max_rows is 0
            if self._scheduled and not behind:
                return
            self._scheduled = self._scheduled or not behind
        if behind:
            self.flush()
        else:
            _background_counter().submit(self.flush)

    def flush(self) -> None:
        """Count every queued batch before returning."""
        with self._folding:
            with self._lock:
                items, self._items, self._rows, self._scheduled = self._items, [], 0, False
            if not items:
                return
            try:
                self._fold(items)
            except Exception:  # telemetry never fails the request or the export; logged once
                self._failures("PendingBatches.flush")


_counter_thread: ThreadPoolExecutor | None = None
_counter_thread_lock = threading.Lock()


def _background_counter() -> ThreadPoolExecutor:
    """The one thread per process that counts full queues, started on first use."""
    global _counter_thread  # noqa: PLW0603 - one lazily started thread per process
    if _counter_thread is None:
        with _counter_thread_lock:
            if _counter_thread is None:
                _counter_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otel-batch-counts")
    return _counter_thread


def _forget_counter_thread() -> None:
    """In a forked child: the parent's thread is not there, so the next full queue starts a new one."""
    global _counter_thread, _counter_thread_lock
    _counter_thread, _counter_thread_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_counter_thread)


class HistogramPoint:
    """One attribute set of a histogram; ``record`` is safe from any thread."""

    __slots__ = (
        "_bounds",
        "_bounds_array",
        "_count",
        "_counts",
        "_exemplars",
        "_lock",
        "_max",
        "_min",
        "_pending",
        "_sum",
        "attributes",
    )

    def __init__(self, attributes: Attributes, bounds: Sequence[float]) -> None:
        self.attributes = dict(attributes)
        self._bounds = list(bounds)
        self._bounds_array = np.asarray(self._bounds, dtype=np.float64)
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0
        self._count = 0
        self._min = float("inf")
        self._max = float("-inf")
        self._exemplars: list[tuple[float, int, int, int] | None] = [None] * (len(bounds) + 1)
        self._pending: PendingBatches[np.ndarray] = PendingBatches(self._count_arrays, PENDING_ROWS_MAX, "a histogram's batches")
        self._lock = threading.Lock()

    def record(self, value: float, sampled: SpanContext | None = None) -> None:
        """Add one value; ``sampled`` is the current span's context when its trace is sampled."""
        index = bisect_left(self._bounds, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value
            self._count += 1
            # Comparisons, not min()/max(): two builtin calls per record on every request's path.
            if value < self._min:
                self._min = value
            if value > self._max:
                self._max = value
            if sampled is not None:
                self._exemplars[index] = (value, time_ns(), sampled.trace_id, sampled.span_id)

    def record_many(self, values: np.ndarray) -> None:
        """Add every value of a 1-D array; no exemplar (a batch has no single span to point at).

        The array is queued (``PendingBatches``) and counted with the next ones by one
        ``searchsorted``/``bincount``, at the latest by the next ``snapshot``. It is kept by
        reference until then: do not change it after the call.
        """
        if values.size:
            self._pending.add(values, values.size)

    def _count_arrays(self, arrays: list[np.ndarray]) -> None:
        values = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        tally = np.bincount(np.searchsorted(self._bounds_array, values, side="left"), minlength=len(self._counts)).tolist()
        total, low, high = float(values.sum(dtype=np.float64)), float(values.min()), float(values.max())
        with self._lock:
            self._counts = [a + b for a, b in zip(self._counts, tally, strict=True)]
            self._sum += total
            self._count += int(values.size)
            if low < self._min:
                self._min = low
            if high > self._max:
                self._max = high

    def snapshot(self, start_ns: int, now_ns: int) -> HistogramDataPoint | None:
        self._pending.flush()
        with self._lock:
            if self._count == 0:
                return None
            counts, total, count, low, high = tuple(self._counts), self._sum, self._count, self._min, self._max
            exemplars = [e for e in self._exemplars if e is not None]
        return HistogramDataPoint(
            attributes=self.attributes,
            start_time_unix_nano=start_ns,
            time_unix_nano=now_ns,
            count=count,
            sum=total,
            bucket_counts=counts,
            explicit_bounds=tuple(self._bounds),
            min=low,
            max=high,
            exemplars=[Exemplar({}, value, at, span_id, trace_id) for value, at, trace_id, span_id in exemplars],
        )


class SumPoint:
    """One attribute set of a counter or up-down counter."""

    __slots__ = ("_lock", "_value", "attributes")

    def __init__(self, attributes: Attributes) -> None:
        self.attributes = dict(attributes)
        self._value: int | float = 0
        self._lock = threading.Lock()

    def add(self, amount: float) -> None:
        """Add ``amount`` (negative for an up-down counter)."""
        with self._lock:
            self._value += amount

    def snapshot(self, start_ns: int, now_ns: int) -> NumberDataPoint | None:
        with self._lock:
            value = self._value
        return NumberDataPoint(attributes=self.attributes, start_time_unix_nano=start_ns, time_unix_nano=now_ns, value=value)


class CounterVector:
    """A counter over a fixed list of attribute sets, known in advance, counted by index.

    Why: drift buckets (features x buckets, ~110 sets) are counted a whole request at a time; a
    request adds one count per feature, a batch one ``bincount`` over all its rows. Every set is
    exported from the start, zeros included, so a window's ``increase()`` downstream sees the
    first counts too and every bucket is present when shares are computed.
    """

    def __init__(self, name: str, unit: str, description: str, attribute_sets: Sequence[Attributes]) -> None:
        self.name, self.unit, self.description = name, unit, description
        self._attributes = [dict(a) for a in attribute_sets]
        # Two stores, summed at collection: list items are the cheapest single increments,
        # a numpy array the cheapest whole-vector addition.
        self._singles = [0] * len(self._attributes)
        self._batches = np.zeros(len(self._attributes), dtype=np.int64)
        self._lock = threading.Lock()
        self._queues: list[PendingBatches[Any]] = []

    def __len__(self) -> int:
        return len(self._attributes)

    def add_indices(self, indices: Sequence[int]) -> None:
        """One count for each index (a few per request: a Python loop over features, not rows)."""
        with self._lock:
            singles = self._singles
            for index in indices:
                singles[index] += 1

    def add_counts(self, counts: np.ndarray) -> None:
        """Add a whole count vector (``bincount`` of a batch), ``len(self)`` long."""
        with self._lock:
            np.add(self._batches, counts, out=self._batches)

    def pending_batches(self, count: Callable[[list[T]], np.ndarray], max_rows: int = PENDING_ROWS_MAX) -> PendingBatches[T]:
        """A queue of whole batches whose ``count(batches)`` (a count vector, ``len(self)`` long) is added later.

        Every read of this counter (``values``, ``metric``) counts the queue first, so reads stay exact.
        """
        queue: PendingBatches[T] = PendingBatches(lambda batches: self.add_counts(count(batches)), max_rows, self.name)
        self._queues.append(queue)
        return queue

    def values(self) -> list[int]:
        """The current count of every attribute set, in order (queued batches counted first)."""
        for queue in self._queues:
            queue.flush()
        with self._lock:
            return [a + b for a, b in zip(self._singles, self._batches.tolist(), strict=True)]

    def metric(self, start_ns: int, now_ns: int) -> Metric | None:
        points = [
            NumberDataPoint(attributes=a, start_time_unix_nano=start_ns, time_unix_nano=now_ns, value=v)
            for a, v in zip(self._attributes, self.values(), strict=True)
        ]
        if not points:
            return None
        data = Sum(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE, is_monotonic=True)
        return Metric(name=self.name, description=self.description, unit=self.unit, data=data)


class SdkHistogramPoint(HistogramPoint):
    """A ``HistogramPoint`` recording through an SDK histogram (the ``FAST_METRICS`` fallback); no snapshot of its own."""

    __slots__ = ("_sdk",)

    def __init__(self, attributes: Attributes, bounds: Sequence[float], sdk: Any) -> None:
        super().__init__(attributes, bounds)
        self._sdk = sdk

    def record(self, value: float, sampled: SpanContext | None = None) -> None:
        """Record ``value``; ``sampled`` (a sampled span's context) becomes its exemplar, as on the fast path."""
        where = trace.set_span_in_context(trace.NonRecordingSpan(sampled)) if sampled is not None else Context()
        self._sdk.record(value, self.attributes, context=where)

    def record_many(self, values: np.ndarray) -> None:
        """Record every value of a 1-D array (one SDK record each), without exemplars."""
        for value in values.tolist():
            self._sdk.record(value, self.attributes, context=Context())

    def snapshot(self, start_ns: int, now_ns: int) -> HistogramDataPoint | None:
        """None: the SDK exports these values itself."""
        return None


class SdkSumPoint(SumPoint):
    """A ``SumPoint`` adding through an SDK counter or up-down counter (the ``FAST_METRICS`` fallback)."""

    __slots__ = ("_sdk",)

    def __init__(self, attributes: Attributes, sdk: Any) -> None:
        super().__init__(attributes)
        self._sdk = sdk

    def add(self, amount: float) -> None:
        """Add ``amount``."""
        self._sdk.add(amount, self.attributes)

    def snapshot(self, start_ns: int, now_ns: int) -> NumberDataPoint | None:
        """None: the SDK exports this sum itself."""
        return None


class SdkCounterVector(CounterVector):
    """A ``CounterVector`` adding through an SDK counter (the ``FAST_METRICS`` fallback); every set starts at 0."""

    def __init__(self, name: str, unit: str, description: str, attribute_sets: Sequence[Attributes], meter: Meter) -> None:
        super().__init__(name, unit, description, attribute_sets)
        self._sdk = meter.create_counter(name, unit, description)
        for attributes in self._attributes:
            self._sdk.add(0, attributes)

    def add_indices(self, indices: Sequence[int]) -> None:
        """One count for each index."""
        super().add_indices(indices)
        for index in indices:
            self._sdk.add(1, self._attributes[index])

    def pending_batches(self, count: Callable[[list[T]], np.ndarray], max_rows: int = PENDING_ROWS_MAX) -> PendingBatches[T]:
        """A queue that counts every batch as it is added: the SDK collects by itself, without reading ours first."""
        return super().pending_batches(count, max_rows=0)

    def add_counts(self, counts: np.ndarray) -> None:
        """Add a whole count vector, ``len(self)`` long."""
        super().add_counts(counts)
        for index, count in enumerate(counts.tolist()):
            if count:
                self._sdk.add(count, self._attributes[index])

    def metric(self, start_ns: int, now_ns: int) -> Metric | None:
        """None: the SDK exports this counter itself."""
        return None


P = TypeVar("P", HistogramPoint, SumPoint)


class _Instrument(Generic[P]):
    def __init__(self, name: str, unit: str, description: str, make_point: Callable[[Attributes], P]) -> None:
        self.name, self.unit, self.description = name, unit, description
        self._make_point: Callable[[Attributes], P] = make_point
        self._points: dict[frozenset[tuple[str, AttributeValue]], P] = {}
        self._by_values: dict[tuple[tuple[str, ...], tuple[AttributeValue | None, ...]], P] = {}
        self._lock = threading.Lock()

    def point(self, attributes: Attributes | None = None) -> P:
        """The bound handle of ``attributes``; resolve it once and keep it (bounded cardinality)."""
        key = frozenset((attributes or {}).items())
        found = self._points.get(key)
        if found is None:
            with self._lock:
                found = self._points.setdefault(key, self._make_point(attributes or {}))
        return found

    def point_of(self, names: tuple[str, ...], values: tuple[AttributeValue | None, ...]) -> P:
        """``point`` of ``zip(names, values)`` (``None`` values left out), cached by the two tuples.

        For the request path: a record then hashes one small tuple instead of building and hashing
        an attribute dict.
        """
        key = (names, values)
        found = self._by_values.get(key)
        if found is None:
            attributes = {name: value for name, value in zip(names, values, strict=True) if value is not None}
            found = self._by_values.setdefault(key, self.point(attributes))
        return found

    def snapshots(self, start_ns: int, now_ns: int) -> list[Any]:
        """The data points of every attribute set recorded so far."""
        return [s for s in (p.snapshot(start_ns, now_ns) for p in list(self._points.values())) if s is not None]


class FastHistogram(_Instrument[HistogramPoint]):
    """A histogram with explicit ``bounds``; ``point(attributes).record(value, sampled_span_context)``."""

    def __init__(self, name: str, unit: str, description: str, bounds: Sequence[float], meter: Meter | None = None) -> None:
        make: Callable[[Attributes], HistogramPoint]
        if meter is None:
            make = partial(HistogramPoint, bounds=bounds)
        else:
            sdk = meter.create_histogram(name, unit, description, explicit_bucket_boundaries_advisory=list(bounds))
            make = partial(SdkHistogramPoint, bounds=bounds, sdk=sdk)
        super().__init__(name, unit, description, make)

    def metric(self, start_ns: int, now_ns: int) -> Metric | None:
        """The histogram's cumulative ``Metric``, or None before the first record."""
        points = self.snapshots(start_ns, now_ns)
        if not points:
            return None
        data = Histogram(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE)
        return Metric(name=self.name, description=self.description, unit=self.unit, data=data)


class FastSum(_Instrument[SumPoint]):
    """A counter (``monotonic``) or up-down counter; ``point(attributes).add(amount)``."""

    def __init__(self, name: str, unit: str, description: str, monotonic: bool, meter: Meter | None = None) -> None:
        make: Callable[[Attributes], SumPoint]
        if meter is None:
            make = SumPoint
        else:
            create = meter.create_counter if monotonic else meter.create_up_down_counter
            sdk = create(name, unit, description)
            make = partial(SdkSumPoint, sdk=sdk)
        super().__init__(name, unit, description, make)
        self.monotonic = monotonic

    def metric(self, start_ns: int, now_ns: int) -> Metric | None:
        """The sum's cumulative ``Metric``, or None before the first record."""
        points = self.snapshots(start_ns, now_ns)
        if not points:
            return None
        data = Sum(data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE, is_monotonic=self.monotonic)
        return Metric(name=self.name, description=self.description, unit=self.unit, data=data)


InstrumentT = TypeVar("InstrumentT", FastHistogram, FastSum, CounterVector)


class FastMetrics:
    """The registry of one process's pre-aggregated instruments (one instrument per name).

    ``sdk_meter`` given: every instrument records through the SDK's own instruments instead (the
    ``otel.compat.FAST_METRICS`` fallback) and ``merge_into`` has nothing to add.
    """

    def __init__(self, scope_name: str, resource: Resource, sdk_meter: Meter | None = None) -> None:
        self.scope = InstrumentationScope(scope_name)
        self.resource = resource
        self.start_ns = time_ns()
        self._meter = sdk_meter
        self._instruments: dict[str, FastHistogram | FastSum | CounterVector] = {}

    def histogram(self, name: str, unit: str, description: str, bounds: Sequence[float]) -> FastHistogram:
        """The histogram ``name`` with bucket ``bounds`` (the existing one when already registered)."""
        return self._register(FastHistogram(name, unit, description, bounds, self._meter))

    def counter(self, name: str, unit: str, description: str) -> FastSum:
        """The monotonic counter ``name``."""
        return self._register(FastSum(name, unit, description, monotonic=True, meter=self._meter))

    def up_down_counter(self, name: str, unit: str, description: str) -> FastSum:
        """The up-down counter ``name``."""
        return self._register(FastSum(name, unit, description, monotonic=False, meter=self._meter))

    def counter_vector(self, name: str, unit: str, description: str, attribute_sets: Sequence[Attributes]) -> CounterVector:
        """A counter over the fixed ``attribute_sets``, counted by index, all exported from 0."""
        if self._meter is not None:
            return self._register(SdkCounterVector(name, unit, description, attribute_sets, self._meter))
        return self._register(CounterVector(name, unit, description, attribute_sets))

    def _register(self, instrument: InstrumentT) -> InstrumentT:
        found = self._instruments.setdefault(instrument.name, instrument)
        assert type(found) is type(instrument), f"{instrument.name} is already registered as another kind"
        return found

    def metrics(self) -> list[Metric]:
        """Every pre-aggregated instrument's current ``Metric`` (none in the SDK fallback)."""
        now = time_ns()
        return [m for m in (i.metric(self.start_ns, now) for i in list(self._instruments.values())) if m is not None]

    def merge_into(self, data: MetricsData | None) -> MetricsData:
        """``data`` plus our points, under our resource; joined to an SDK scope of the same name.

        (Exporters group by scope, so a second scope with the same name would shadow the first.)
        """
        extra = self.metrics()
        if not extra:
            return data if data is not None else MetricsData(resource_metrics=[])
        resource_metrics = list(data.resource_metrics) if data is not None else []
        if not resource_metrics:
            scope = ScopeMetrics(scope=self.scope, metrics=extra, schema_url="")
            return MetricsData(resource_metrics=[ResourceMetrics(resource=self.resource, scope_metrics=[scope], schema_url="")])
        first = resource_metrics[0]
        scopes = list(first.scope_metrics)
        same = next((i for i, s in enumerate(scopes) if s.scope.name == self.scope.name), None)
        if same is None:
            scopes.append(ScopeMetrics(scope=self.scope, metrics=extra, schema_url=""))
        else:
            scopes[same] = replace(scopes[same], metrics=[*scopes[same].metrics, *extra])
        resource_metrics[0] = replace(first, scope_metrics=scopes)
        return MetricsData(resource_metrics=resource_metrics)

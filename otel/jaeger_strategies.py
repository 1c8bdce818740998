"""Jaeger sampling strategies: parsed from the sampling endpoint's JSON, then deciding roots by trace id and span name.

Jaeger answers ``GET /sampling?service=<name>`` with a ``SamplingStrategyResponse``. Jaeger v2's
``remote_sampling`` extension encodes it as Thrift-style JSON (``"strategyType": 0``); the same message
in proto3 JSON (``"strategyType": "PROBABILISTIC"``, zero values left out, numbers possibly as strings)
is accepted too. Three kinds, as the Go and Java SDKs implement them:

* **probabilistic** (``probabilisticSampling.samplingRate``): the trace-id ratio of the SDK's
  ``TraceIdRatioBased`` (same bound, same bits), so a head decision here agrees with a ratio sampler's;
* **rate limiting** (``rateLimitingSampling.maxTracesPerSecond``): a token bucket refilled at that rate,
  holding at most ``max(rate, 1)`` traces;
* **per operation** (``operationSampling``): each ``perOperationStrategies[].operation`` (a server span
  name such as ``POST /predict/batch``) its own ratio, every other operation
  ``defaultSamplingProbability``; each operation is also guaranteed
  ``defaultLowerBoundTracesPerSecond`` by its own token bucket (Jaeger's "guaranteed throughput"
  sampler). ``defaultUpperBoundTracesPerSecond`` is read but not enforced, as in the Go and Java SDKs.

Usage::

    spec = parse_strategy(json.loads(body))      # StrategyError on anything malformed
    strategy = build_strategy(spec)
    strategy.sample(trace_id, "POST /predict")   # True: sample this root
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

MAX_OPERATIONS: Final = 2000  # operations given their own lower bound; the Go SDK's default maxOperations
_TRACE_ID_LIMIT: Final = TraceIdRatioBased.TRACE_ID_LIMIT
_TYPES: Final = {0: "probabilistic", 1: "ratelimiting", "PROBABILISTIC": "probabilistic", "RATE_LIMITING": "ratelimiting"}


class StrategyError(ValueError):
    """The sampling endpoint answered something that is not a usable strategy."""


@dataclass(frozen=True)
class StrategySpec:
    """What a strategy response says, as plain values (two equal specs make the same strategy)."""

    kind: str  # "probabilistic", "ratelimiting" or "per_operation"
    rate: float = 0.0  # probabilistic: sampling rate; per_operation: defaultSamplingProbability
    max_traces_per_second: float = 0.0
    lower_bound_per_second: float = 0.0
    upper_bound_per_second: float | None = None
    operations: tuple[tuple[str, float], ...] = ()

    def describe(self) -> str:
        """One line for the log, e.g. ``per operation (default 0.1, lower bound 0.0167/s, POST /predict/batch 1)``."""
        if self.kind == "probabilistic":
            return f"probabilistic {self.rate:g}"
        if self.kind == "ratelimiting":
            return f"rate limiting {self.max_traces_per_second:g}/s"
        ops = "".join(f", {name} {rate:g}" for name, rate in self.operations)
        return f"per operation (default {self.rate:g}, lower bound {self.lower_bound_per_second:g}/s{ops})"


def _number(value: Any, where: str, low: float, high: float = math.inf) -> float:
    """A JSON number (or a proto3 JSON number-as-string) within low..high."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise StrategyError(f"{where}: {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise StrategyError(f"{where}: {value!r} is not a number within {low:g}..{high:g}")
    return float(value)


def _object(document: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = document.get(key)
    if value is not None and not isinstance(value, Mapping):
        raise StrategyError(f"{key}: expected an object, got {type(value).__name__}")
    return value


def parse_strategy(document: Any) -> StrategySpec:
    """The :class:`StrategySpec` of a decoded ``SamplingStrategyResponse``; :class:`StrategyError` when malformed."""
    if not isinstance(document, Mapping):
        raise StrategyError(f"expected a JSON object, got {type(document).__name__}")
    per_operation = _object(document, "operationSampling")
    if per_operation is not None:
        return _per_operation(per_operation)
    kind = _TYPES.get(document.get("strategyType", 0))
    if kind is None:
        raise StrategyError(f"strategyType: {document.get('strategyType')!r} is not PROBABILISTIC (0) or RATE_LIMITING (1)")
    if kind == "probabilistic":
        probabilistic = _object(document, "probabilisticSampling")
        if probabilistic is None:
            raise StrategyError("a PROBABILISTIC strategy without probabilisticSampling")
        rate = _number(probabilistic.get("samplingRate", 0), "probabilisticSampling.samplingRate", 0.0, 1.0)
        return StrategySpec("probabilistic", rate=rate)
    limiting = _object(document, "rateLimitingSampling")
    if limiting is None:
        raise StrategyError("a RATE_LIMITING strategy without rateLimitingSampling")
    per_second = _number(limiting.get("maxTracesPerSecond", 0), "rateLimitingSampling.maxTracesPerSecond", 0.0)
    return StrategySpec("ratelimiting", max_traces_per_second=per_second)


def _per_operation(document: Mapping[str, Any]) -> StrategySpec:
    default = _number(document.get("defaultSamplingProbability", 0), "operationSampling.defaultSamplingProbability", 0.0, 1.0)
    lower = _number(
        document.get("defaultLowerBoundTracesPerSecond", 0), "operationSampling.defaultLowerBoundTracesPerSecond", 0.0
    )
    upper_raw = document.get("defaultUpperBoundTracesPerSecond")
    upper = None if upper_raw is None else _number(upper_raw, "operationSampling.defaultUpperBoundTracesPerSecond", 0.0)
    entries = document.get("perOperationStrategies") or []
    if not isinstance(entries, list):
        raise StrategyError("operationSampling.perOperationStrategies: expected a list")
    operations: dict[str, float] = {}
    for i, entry in enumerate(entries):
        where = f"operationSampling.perOperationStrategies[{i}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("operation"), str):
            raise StrategyError(f"{where}: expected an object with a string `operation`")
        probabilistic = _object(entry, "probabilisticSampling") or {}
        operations[entry["operation"]] = _number(probabilistic.get("samplingRate", 0), f"{where}.samplingRate", 0.0, 1.0)
    return StrategySpec(
        "per_operation",
        rate=default,
        lower_bound_per_second=lower,
        upper_bound_per_second=upper,
        operations=tuple(operations.items()),
    )


class RateLimiter:
    """A token bucket: ``per_second`` credits a second, at most ``max_balance``, starting full (Jaeger's limiter)."""

    __slots__ = ("_balance", "_clock", "_last", "_lock", "max_balance", "per_second")

    def __init__(self, per_second: float, max_balance: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second, self.max_balance = per_second, max_balance
        self._clock = clock
        self._balance, self._last = max_balance, clock()
        self._lock = threading.Lock()  # requests on the event loop and in pool threads share a bucket

    def take(self) -> bool:
        """Take one credit if there is one."""
        with self._lock:
            now = self._clock()
            balance = min(self.max_balance, self._balance + (now - self._last) * self.per_second)
            self._last = now
            if balance >= 1.0:
                self._balance = balance - 1.0
                return True
            self._balance = balance
            return False


class Probabilistic:
    """Sample a trace when its id's low 64 bits fall under the rate's bound (as ``TraceIdRatioBased``)."""

    __slots__ = ("bound",)

    def __init__(self, rate: float) -> None:
        self.bound = TraceIdRatioBased.get_bound_for_rate(rate)

    def sample(self, trace_id: int, name: str) -> bool:
        return trace_id & _TRACE_ID_LIMIT < self.bound


class RateLimiting:
    """At most ``per_second`` traces a second (bursts up to ``max(per_second, 1)``), whatever their ids."""

    __slots__ = ("limiter",)

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        # 0/s samples nothing (Jaeger's bucket would still start with one credit)
        self.limiter = RateLimiter(per_second, max(per_second, 1.0) if per_second > 0 else 0.0, clock)

    def sample(self, trace_id: int, name: str) -> bool:
        return self.limiter.take()


class GuaranteedThroughput:
    """Probabilistic, plus a lower bound: a dropped trace is still sampled while the bound's bucket has credit.

    A sampled trace also spends a credit (Jaeger's order), so the bound tops the ratio up rather than adding to it.
    """

    __slots__ = ("bound", "limiter")

    def __init__(self, rate: float, lower_bound: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.bound = TraceIdRatioBased.get_bound_for_rate(rate)
        self.limiter = RateLimiter(lower_bound, max(lower_bound, 1.0), clock) if lower_bound > 0 else None

    def sample(self, trace_id: int, name: str) -> bool:
        limiter = self.limiter
        if trace_id & _TRACE_ID_LIMIT < self.bound:
            if limiter is not None:
                limiter.take()
            return True
        return limiter is not None and limiter.take()


class PerOperation:
    """Each operation (span name) its own :class:`GuaranteedThroughput`; unknown ones get the default rate.

    An operation first seen gets its own sampler, for up to :data:`MAX_OPERATIONS` operations; beyond,
    the default ratio without a lower bound (names are route templates, so the set stays small).
    """

    __slots__ = ("_by_name", "_clock", "_default", "_fallback", "_lower")

    def __init__(self, spec: StrategySpec, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock, self._default, self._lower = clock, spec.rate, spec.lower_bound_per_second
        # name -> bound ``sample`` method (one lookup and one call per root)
        self._by_name = {name: self._decider(rate) for name, rate in spec.operations}
        self._fallback = Probabilistic(spec.rate).sample

    def _decider(self, rate: float) -> Callable[[int, str], bool]:
        if self._lower > 0:
            return GuaranteedThroughput(rate, self._lower, self._clock).sample
        return Probabilistic(rate).sample

    def sample(self, trace_id: int, name: str) -> bool:
        decide = self._by_name.get(name)
        if decide is None:
            if len(self._by_name) >= MAX_OPERATIONS:
                return self._fallback(trace_id, name)
            # setdefault: two threads meeting a new name at once share one sampler
            decide = self._by_name.setdefault(name, self._decider(self._default))
        return decide(trace_id, name)


Strategy = Probabilistic | RateLimiting | PerOperation


def build_strategy(spec: StrategySpec, clock: Callable[[], float] = time.monotonic) -> Strategy:
    """The deciding object for ``spec`` (fresh token buckets)."""
    if spec.kind == "probabilistic":
        return Probabilistic(spec.rate)
    if spec.kind == "ratelimiting":
        return RateLimiting(spec.max_traces_per_second, clock)
    return PerOperation(spec, clock)

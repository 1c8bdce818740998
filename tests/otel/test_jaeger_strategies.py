"""Jaeger strategy responses: parsed in both JSON dialects, refused when malformed, deciding as Jaeger's SDKs decide."""

from __future__ import annotations

import random
from typing import Any

import pytest
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

from otel.jaeger_strategies import (
    MAX_OPERATIONS,
    PerOperation,
    StrategyError,
    StrategySpec,
    build_strategy,
    parse_strategy,
)
from tests.otel.strategy_server import per_operation, probabilistic


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_jaeger_v2_thrift_style_and_proto3_json_give_the_same_strategy() -> None:
    thrift_style = probabilistic(0.25)
    proto3 = {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": "0.25"}}
    proto3_zero_type_left_out = {"probabilisticSampling": {"samplingRate": 0.25}}
    assert parse_strategy(thrift_style) == parse_strategy(proto3) == parse_strategy(proto3_zero_type_left_out)
    assert parse_strategy(thrift_style) == StrategySpec("probabilistic", rate=0.25)


def test_rate_limiting_in_both_dialects() -> None:
    expected = StrategySpec("ratelimiting", max_traces_per_second=5.0)
    assert parse_strategy({"strategyType": 1, "rateLimitingSampling": {"maxTracesPerSecond": 5}}) == expected
    assert parse_strategy({"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 5}}) == expected


def test_per_operation_wins_over_the_service_default_and_keeps_every_field() -> None:
    document = per_operation(0.1, {"POST /predict/batch": 1.0, "POST /predict": 0.05}, lower_bound=0.5)
    document["operationSampling"]["defaultUpperBoundTracesPerSecond"] = 100
    spec = parse_strategy(document)
    assert spec == StrategySpec(
        "per_operation",
        rate=0.1,
        lower_bound_per_second=0.5,
        upper_bound_per_second=100.0,
        operations=(("POST /predict/batch", 1.0), ("POST /predict", 0.05)),
    )
    # proto3 JSON leaves zero values out: a 0 default and a missing list are still a strategy
    assert parse_strategy({"operationSampling": {}}) == StrategySpec("per_operation")


@pytest.mark.parametrize(
    "document",
    [
        [],
        "probabilistic",
        {"strategyType": 7, "probabilisticSampling": {"samplingRate": 0.1}},
        {"strategyType": "ADAPTIVE"},
        {"strategyType": 0},
        {"strategyType": 1},
        {"probabilisticSampling": {"samplingRate": 1.5}},
        {"probabilisticSampling": {"samplingRate": "lots"}},
        {"probabilisticSampling": {"samplingRate": True}},
        {"probabilisticSampling": {"samplingRate": None}},
        {"probabilisticSampling": [0.1]},
        {"strategyType": 1, "rateLimitingSampling": {"maxTracesPerSecond": -1}},
        {"operationSampling": {"perOperationStrategies": {"op": 0.1}}},
        {"operationSampling": {"perOperationStrategies": [{"probabilisticSampling": {"samplingRate": 0.1}}]}},
        {"operationSampling": {"defaultSamplingProbability": 2}},
        {"operationSampling": "yes"},
    ],
)
def test_malformed_strategies_are_refused(document: Any) -> None:
    with pytest.raises(StrategyError):
        parse_strategy(document)


def test_probabilistic_decides_exactly_as_the_sdk_ratio_sampler() -> None:
    rng = random.Random(7)
    ids = [rng.getrandbits(128) for _ in range(5000)]
    for rate in (0.0, 0.1, 0.5, 1.0):
        strategy = build_strategy(StrategySpec("probabilistic", rate=rate))
        sdk = TraceIdRatioBased(rate)
        ours = [strategy.sample(i, "x") for i in ids]
        theirs = [sdk.should_sample(None, i, "x").decision is Decision.RECORD_AND_SAMPLE for i in ids]
        assert ours == theirs


def test_rate_limiting_allows_the_rate_and_a_burst_of_one_second() -> None:
    clock = FakeClock()
    strategy = build_strategy(StrategySpec("ratelimiting", max_traces_per_second=2.0), clock)
    assert [strategy.sample(i, "x") for i in range(4)] == [True, True, False, False]  # starts full: 2 credits
    clock.now += 0.5  # one credit back
    assert [strategy.sample(i, "x") for i in range(2)] == [True, False]
    clock.now += 100  # capped at max(2, 1)
    assert sum(strategy.sample(i, "x") for i in range(10)) == 2


def test_zero_traces_per_second_samples_nothing() -> None:
    strategy = build_strategy(StrategySpec("ratelimiting", max_traces_per_second=0.0), FakeClock())
    assert not any(strategy.sample(i, "x") for i in range(5))


def test_per_operation_rates_apply_by_span_name_and_unknown_names_get_the_default() -> None:
    spec = StrategySpec("per_operation", rate=0.0, operations=(("POST /predict/batch", 1.0),))
    strategy = build_strategy(spec, FakeClock())
    rng = random.Random(3)
    ids = [rng.getrandbits(128) for _ in range(200)]
    assert all(strategy.sample(i, "POST /predict/batch") for i in ids)
    assert not any(strategy.sample(i, "POST /predict") for i in ids)


def test_the_lower_bound_guarantees_traces_per_operation_when_the_ratio_is_zero() -> None:
    clock = FakeClock()
    spec = StrategySpec("per_operation", rate=0.0, lower_bound_per_second=0.5, operations=(("GET /model", 0.0),))
    strategy = build_strategy(spec, clock)
    # each operation its own bucket, starting with max(0.5, 1) = 1 credit
    assert [strategy.sample(i, "GET /model") for i in range(3)] == [True, False, False]
    assert [strategy.sample(i, "POST /predict") for i in range(3)] == [True, False, False]
    clock.now += 2.0  # 0.5/s: one credit back
    assert [strategy.sample(i, "GET /model") for i in range(3)] == [True, False, False]


def test_a_ratio_sampled_trace_spends_the_lower_bound_credit() -> None:
    clock = FakeClock()
    strategy = build_strategy(StrategySpec("per_operation", rate=1.0, lower_bound_per_second=1.0), clock)
    assert strategy.sample(0, "op")  # sampled by ratio; the bucket's one credit is spent too
    assert isinstance(strategy, PerOperation)
    strategy_zero = build_strategy(StrategySpec("per_operation", rate=0.0, lower_bound_per_second=1.0), clock)
    assert strategy_zero.sample(2**64 - 1, "op") and not strategy_zero.sample(2**64 - 1, "op")


def test_operations_beyond_the_cap_fall_back_to_the_default_ratio_without_a_bound() -> None:
    clock = FakeClock()
    strategy = build_strategy(StrategySpec("per_operation", rate=0.0, lower_bound_per_second=1.0), clock)
    for n in range(MAX_OPERATIONS):
        strategy.sample(2**64 - 1, f"op{n}")
    assert not strategy.sample(2**64 - 1, "one too many")  # no bucket of its own: ratio 0 alone


def test_describe_names_the_strategy() -> None:
    assert StrategySpec("probabilistic", rate=0.1).describe() == "probabilistic 0.1"
    assert StrategySpec("ratelimiting", max_traces_per_second=3).describe() == "rate limiting 3/s"
    spec = StrategySpec("per_operation", rate=0.1, lower_bound_per_second=0.5, operations=(("POST /x", 1.0),))
    assert spec.describe() == "per operation (default 0.1, lower bound 0.5/s, POST /x 1)"


# What Jaeger 2.12.0 answered for collector-config/jaeger/sampling-strategies.json (GET :5778/sampling?service=...)
JAEGER_2_12_ANSWER = (
    '{"strategyType":0,"probabilisticSampling":{"samplingRate":0.1},"operationSampling":{"defaultSamplingProbability":0.1,'
    '"defaultLowerBoundTracesPerSecond":0,"perOperationStrategies":[{"operation":"POST /predict","probabilisticSampling":'
    '{"samplingRate":0.1}},{"operation":"POST /predict/batch","probabilisticSampling":{"samplingRate":1}}],'
    '"defaultUpperBoundTracesPerSecond":0}}'
)


def test_the_answer_of_the_real_jaeger_is_a_per_operation_strategy() -> None:
    import json

    spec = parse_strategy(json.loads(JAEGER_2_12_ANSWER))
    assert spec.kind == "per_operation" and spec.rate == 0.1 and spec.upper_bound_per_second == 0.0
    assert dict(spec.operations) == {"POST /predict": 0.1, "POST /predict/batch": 1.0}

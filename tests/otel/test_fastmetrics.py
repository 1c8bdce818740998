"""The pre-aggregated instruments used on the request path: handle lookup, whole-batch records."""

from __future__ import annotations

import numpy as np
import pytest
from opentelemetry.sdk.resources import Resource

from otel.fastmetrics import SMALL_ARRAY_MAX, FastMetrics

NAMES = ("http.request.method", "http.route", "http.response.status_code")


def test_point_of_is_the_point_of_its_attributes_without_the_none_values() -> None:
    histogram = FastMetrics("t", Resource.create({})).histogram("h", "s", "test", [0.1, 1.0])
    routed = histogram.point_of(NAMES, ("POST", "/predict", 200))
    unmatched = histogram.point_of(NAMES, ("POST", None, 404))
    assert routed is histogram.point({"http.request.method": "POST", "http.route": "/predict", "http.response.status_code": 200})
    assert unmatched is histogram.point({"http.request.method": "POST", "http.response.status_code": 404})
    assert histogram.point_of(NAMES, ("POST", "/predict", 200)) is routed
    routed.record(0.05)
    unmatched.record(0.5)
    points = {frozenset(p.attributes.items()): p.count for p in histogram.snapshots(0, 1)}
    assert points == {frozenset(routed.attributes.items()): 1, frozenset(unmatched.attributes.items()): 1}
    assert "http.route" not in unmatched.attributes


@pytest.mark.parametrize("size", [1, 2, SMALL_ARRAY_MAX, SMALL_ARRAY_MAX + 1, 1000])
def test_record_many_counts_like_one_record_per_value_on_either_path(size: int) -> None:
    bounds = [0.1, 0.5, 0.9]
    rng = np.random.default_rng(size)
    values = np.where(rng.random(size) < 0.3, rng.choice(bounds, size), rng.random(size)).astype(np.float32)
    registry = FastMetrics("t", Resource.create({}))
    one_by_one = registry.histogram("a", "1", "test", bounds).point()
    at_once = registry.histogram("b", "1", "test", bounds).point()
    for value in values.tolist():
        one_by_one.record(value)
    at_once.record_many(values[: size // 2])  # two calls: the totals accumulate
    at_once.record_many(values[size // 2 :])
    expected, got = one_by_one.snapshot(0, 1), at_once.snapshot(0, 1)
    assert expected is not None and got is not None
    assert list(got.bucket_counts) == list(expected.bucket_counts)
    assert (got.count, got.min, got.max) == (expected.count, expected.min, expected.max) == (size, values.min(), values.max())
    assert got.sum == pytest.approx(expected.sum, rel=1e-12)

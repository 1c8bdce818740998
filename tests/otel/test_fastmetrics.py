"""The pre-aggregated instruments' handle lookup used on the request path."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource

from otel.fastmetrics import FastMetrics

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

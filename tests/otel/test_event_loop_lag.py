"""``asyncio.event_loop.lag``: near zero on a free loop, at least the blocked time when something holds the loop."""

from __future__ import annotations

import asyncio
import time

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel.event_loop_lag import LAG_BUCKETS_S, METRIC, EventLoopLag


def _points(reader: InMemoryMetricReader) -> list:
    data = reader.get_metrics_data()
    return [
        point
        for rm in (data.resource_metrics if data else ())
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == METRIC and metric.unit == "s"
        for point in metric.data.data_points
    ]


def test_a_blocked_loop_shows_as_a_late_wake_up_with_the_lag_buckets_and_stop_ends_the_task() -> None:
    reader = InMemoryMetricReader()
    lag = EventLoopLag(MeterProvider(metric_readers=[reader]).get_meter("t"), interval_s=0.01)

    async def scenario() -> None:
        lag.start()
        await asyncio.sleep(0.05)  # a few on-time wake-ups
        time.sleep(0.3)
        await asyncio.sleep(0.05)
        await lag.stop()
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "event-loop-lag"]

    asyncio.run(scenario())
    (point,) = _points(reader)
    assert point.count >= 3
    assert point.max >= 0.25  # woke at least the blocked time late
    assert tuple(point.explicit_bounds) == LAG_BUCKETS_S
    assert sum(point.bucket_counts) == point.count

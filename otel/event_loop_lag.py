"""Event-loop lag: how late an asyncio task wakes up from a timed sleep, as the histogram ``asyncio.event_loop.lag``.

A request that runs on the event loop (one-row scoring does) holds up every other request for as
long as it runs; a blocked loop shows nowhere else until latency climbs everywhere at once. This is
Ray Serve's way to see it: a task sleeps ``interval`` and records how much later than asked it woke
up (0 on an idle loop, the blocking time on a blocked one). One histogram per process (worker), in
seconds (Prometheus ``asyncio_event_loop_lag_seconds``).

Usage (inside the running loop, e.g. an app lifespan)::

    lag = EventLoopLag(meter, interval_s=0.1)
    lag.start()
    ...
    await lag.stop()

Cost: one sleep and one histogram record per interval (10 a second at 100 ms), whatever the traffic.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from opentelemetry.metrics import Meter

METRIC: Final = "asyncio.event_loop.lag"
# From "on time" (a loop always wakes a little late) to "stuck for seconds".
LAG_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class EventLoopLag:
    """The sleeping task and its histogram; ``start`` inside the loop to watch, ``stop`` before it closes."""

    def __init__(self, meter: Meter, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self._lag = meter.create_histogram(
            METRIC,
            unit="s",
            description="How much later than scheduled a task sleeping on the event loop woke up.",
            explicit_bucket_boundaries_advisory=LAG_BUCKETS_S,
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin measuring on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="event-loop-lag")

    async def stop(self) -> None:
        """Stop measuring and wait for the task to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _watch(self) -> None:
        interval, record, clock = self.interval_s, self._lag.record, time.perf_counter
        while True:
            asked = clock()
            await asyncio.sleep(interval)
            record(max(0.0, clock() - asked - interval))

"""Fault injection (``FAULT_*`` settings): deliberate slowness and failures, so the telemetry has real culprits to find.

Off by default; the runner calls these only when a setting turns them on.
"""

from __future__ import annotations

import random
import time

from service.errors import InjectedFault


def slow_feature_fault(milliseconds: float) -> int:
    """Fault injection: deliberately slow pure-Python arithmetic, so profilers have a real culprit."""
    deadline = time.perf_counter() + milliseconds / 1000.0
    total = 0
    while time.perf_counter() < deadline:
        for value in range(500):
            total = (total + value * value) % 1_000_003
    return total


def inference_fault(error_rate: float, rng: random.Random) -> None:
    """Raise ``InjectedFault`` for a share ``error_rate`` of calls (FAULT_ERROR_RATE)."""
    if rng.random() < error_rate:
        raise InjectedFault("injected inference failure (FAULT_ERROR_RATE)")


def block_event_loop(milliseconds: float) -> None:
    """Fault injection (FAULT_BLOCK_LOOP_MS): hold the calling thread, i.e. the event loop when called from a route.

    A sleep, not CPU work: what a blocking call (a synchronous client, a lock) in async code does; every
    other request on this worker waits, and ``asyncio.event_loop.lag`` shows it.
    """
    time.sleep(milliseconds / 1000.0)

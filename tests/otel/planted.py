"""Deliberately slow pure-Python functions that profiler tests plant in a request, and the names they must get."""

from __future__ import annotations

import time
from typing import Final


def slow_alpha(milliseconds: float) -> int:
    deadline, total = time.perf_counter() + milliseconds / 1e3, 0
    while time.perf_counter() < deadline:
        for value in range(300):
            total = (total + value * value) % 1_000_003
    return total


def slow_beta(milliseconds: float) -> int:
    deadline, total = time.perf_counter() + milliseconds / 1e3, 1
    while time.perf_counter() < deadline:
        for value in range(300):
            total = (total * 3 + value) % 1_000_033
    return total


def gil_gap(milliseconds: float) -> None:
    """Fast work that releases the GIL, as onnxruntime's ``run`` does: a watchdog waiting for the GIL gets it here."""
    time.sleep(milliseconds / 1e3)


ALPHA: Final = f"{__name__}.slow_alpha"  # code.function.name as the profilers report it
BETA: Final = f"{__name__}.slow_beta"
GAP: Final = f"{__name__}.gil_gap"

"""A one-line live progress bar on stderr, redrawn in place with ``\\r``.

Only drawn on a terminal (never into a log file or a pipe) and never with ``--quiet``. No
dependency: a redraw four times a second costs nothing next to the requests it reports.
"""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 24


def render_line(elapsed_s: float, total_s: float, done: int, total_n: int, errors: int, rps: float) -> str:
    """The bar fills with whichever bound (time or count) is nearer to ending the run."""
    fraction = max(min(elapsed_s / total_s, 1.0) if total_s else 0.0, min(done / total_n, 1.0) if total_n else 0.0)
    filled = int(fraction * WIDTH)
    bar = "#" * filled + "." * (WIDTH - filled)
    return f"[{bar}] {fraction:4.0%} {elapsed_s:6.1f}s  {done:>8} req  {rps:8.1f} req/s  {errors:>6} err"


class ProgressLine:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._last_width = 0

    @staticmethod
    def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
        stream = stream or sys.stderr
        return not quiet and stream.isatty()

    def draw(self, line: str) -> None:
        self.stream.write("\r" + line.ljust(self._last_width))
        self.stream.flush()
        self._last_width = len(line)

    def clear(self) -> None:
        if self._last_width:
            self.stream.write("\r" + " " * self._last_width + "\r")
            self.stream.flush()
            self._last_width = 0

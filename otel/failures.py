"""Telemetry that fails must never fail the request, nor flood the log: the first failure is a WARNING
with its traceback, later ones are DEBUG (once per process, per ``FailureLog``)."""

from __future__ import annotations

import itertools
import logging


class FailureLog:
    """Call from an ``except`` block of telemetry code; the request goes on without what failed."""

    def __init__(self, logger: logging.Logger, subject: str, consequence: str) -> None:
        self._logger, self._subject, self._consequence = logger, subject, consequence
        self._count = itertools.count()  # next() is atomic under the GIL: exactly one caller sees 0

    def __call__(self, where: str) -> None:
        """Log the exception being handled, from ``where``: WARNING the first time, DEBUG after."""
        # Called from an except block (the class's contract), so exc_info is the exception being handled.
        if next(self._count) == 0:
            self._logger.warning(
                "%s failed in %s; %s (further failures logged at DEBUG)",
                self._subject,
                where,
                self._consequence,
                exc_info=True,
            )
        else:
            self._logger.debug("%s failed in %s", self._subject, where, exc_info=True)

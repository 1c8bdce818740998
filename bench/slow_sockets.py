"""Slow-header attackers for the ``bare-slow-sockets`` row: many connections that trickle a request head.

Each connection sends the start of a request and then one more header byte every ``interval_s``,
never finishing the head. When the server closes one (``HEADER_TIMEOUT_S``), it reconnects, so the
number of such sockets stays near ``count`` for the whole measurement, as a patient attacker's would.
They run on their own asyncio loop in a thread of the benchmark process, not in the server.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass

_START = b"GET /health/live HTTP/1.1\r\nHost: bench\r\nX-Slow: "


@dataclass
class SlowSocketStats:
    """Counts over the attack: connections opened and how many the server closed."""

    opened: int = 0
    closed_by_server: int = 0
    open_now: int = 0


class SlowSockets:
    """``count`` trickling connections to ``host:port`` from ``start()`` until ``stop()``."""

    def __init__(self, port: int, count: int = 500, interval_s: float = 0.5, host: str = "127.0.0.1") -> None:
        self.host, self.port, self.count, self.interval_s = host, port, count, interval_s
        self.stats = SlowSocketStats()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="slow-sockets", daemon=True)
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, timeout_s: float = 30.0) -> None:
        """Open the connections; returns once all are open (or raises after ``timeout_s``)."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open_all(), self._loop).result(timeout_s)

    def stop(self) -> SlowSocketStats:
        """Close every connection and end the thread; returns the counts."""
        self._stopping = True
        asyncio.run_coroutine_threadsafe(self._cancel_all(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        return self.stats

    async def _open_all(self) -> None:
        self._tasks = [asyncio.ensure_future(self._trickle()) for _ in range(self.count)]
        while self.stats.open_now < self.count:
            await asyncio.sleep(0.05)

    async def _cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _trickle(self) -> None:
        while not self._stopping:
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(self.interval_s)
                continue
            self.stats.opened += 1
            self.stats.open_now += 1
            try:
                writer.write(_START)
                await asyncio.sleep(random.uniform(0, self.interval_s))  # spread the sends over the interval
                while not writer.is_closing():
                    writer.write(b"a")
                    await writer.drain()
                    await asyncio.sleep(self.interval_s)
            except (ConnectionError, OSError):
                self.stats.closed_by_server += 1
            finally:
                self.stats.open_now -= 1
                writer.close()

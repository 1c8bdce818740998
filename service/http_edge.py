"""The HTTP edge of ``python -m service``: bounded request heads, a head read timeout and a connection bound.

Usage::

    uvicorn.run("service.app:app_factory", factory=True, **uvicorn_options())

uvicorn's default parser (httptools) accepts a request head of any size and any number of headers and
waits forever for a head to finish; a connection that sends nothing is never closed. uvicorn's h11
protocol bounds the head size (``h11_max_incomplete_event_size``) but is a pure-Python parser, and
neither has a head read timeout. So ``uvicorn_options`` selects, through uvicorn's public ``http=``
option, ``BoundedHttpToolsProtocol``: uvicorn's httptools protocol plus, per connection,

* ``MAX_HEADER_BYTES``: the request line plus header names and values; over it → 431 and the connection
  closed, before the app runs. Bytes held for an unfinished head stay under the limit plus one socket read.
* ``MAX_HEADERS``: more header fields → 431, likewise.
* ``HEADER_TIMEOUT_S``: a head not complete this long after the connection opened (or after the first
  byte of a later request on a kept-alive connection) → 408 and closed.
* ``MAX_CONNECTIONS``: a connection beyond this many open ones in the worker is closed at once,
  before anything is read, so slow clients cannot exhaust file descriptors.

This is the one module that relies on uvicorn's protocol internals (its parser callbacks, and that a
parser callback error ends in ``send_400_response``). ``protocol_hooks_present`` checks them; without
them ``uvicorn_options`` falls back to uvicorn's h11 protocol with its own head size bound and
``limit_concurrency`` (no header count or timeout there) and logs a warning.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from service.config import Settings

log = logging.getLogger("service.http_edge")

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools missing: uvicorn_options falls back to h11
    HttpToolsProtocol = None  # type: ignore[assignment,misc]  # the optional import's None stands in for the class

# The uvicorn methods BoundedHttpToolsProtocol extends; any missing means the fallback.
_HOOKS = ("connection_made", "connection_lost", "data_received", "send_400_response", "on_message_begin", "on_headers_complete")
_LIMIT_WARNING_INTERVAL_S = 60.0


@dataclass(frozen=True)
class EdgeLimits:
    """What one worker accepts from a connection before the app sees a request."""

    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeLimits:
        """The limits named by ``settings`` (``MAX_HEADER_BYTES``, ``MAX_HEADERS``, ``HEADER_TIMEOUT_S``, ``MAX_CONNECTIONS``)."""
        return cls(settings.max_header_bytes, settings.max_headers, settings.header_timeout_s, settings.max_connections)


class _HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a head that broke a limit."""


def _error_response(status: bytes, error_type: str, message: str) -> bytes:
    """A complete ``connection: close`` response with the API's error shape (``detail``: loc, type, msg)."""
    body = orjson.dumps({"detail": [{"loc": ["header"], "type": error_type, "msg": message}]})
    return b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s" % (
        status,
        len(body),
        body,
    )


if HttpToolsProtocol is not None:

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with the limits of ``limits`` (read from the environment when unset).

        Selected by class (not instance) through uvicorn's ``http=`` option, so it pickles by name into
        each worker process; ``protocol_with`` makes a subclass bound to explicit limits (tests).
        """

        limits: ClassVar[EdgeLimits | None] = None
        _env_limits: ClassVar[EdgeLimits | None] = None
        _last_limit_warning: ClassVar[float] = 0.0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._limits = self.limits or _env_limits()
            self._in_head = True  # until this request's headers are complete
            self._heads_begun = 0
            self._unparsed = 0  # bytes of this head received in earlier reads, which the parser may still hold
            self._last_read = 0
            self._head_timer: Any = None
            self._refusal: bytes | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > self._limits.max_connections:
                self._warn_connection_limit()
                transport.close()
                return
            self._head_timer = self.loop.call_later(self._limits.header_timeout_s, self._head_timed_out)

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            begun = self._heads_begun
            self._last_read = len(data)
            super().data_received(data)
            if not self._in_head or self.transport.is_closing():
                return
            # The head spans reads: count them, so a never-ending header is refused once past the limit.
            self._unparsed = self._unparsed + len(data) if begun == self._heads_begun else 0
            if self._unparsed > self._limits.max_header_bytes:
                self._refuse(self._too_large())
            elif self._head_timer is None:
                self._head_timer = self.loop.call_later(self._limits.header_timeout_s, self._head_timed_out)

        def send_400_response(self, msg: str) -> None:
            """uvicorn's answer to a parser error, which is where a head refused by a callback lands."""
            if self._refusal is None:
                super().send_400_response(msg)
            else:
                self._refuse(self._refusal)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._unparsed = True, 0
            self._heads_begun += 1

        def on_headers_complete(self) -> None:
            self._in_head = False
            if self._head_timer is not None:
                self._cancel_head_timer()
            limits = self._limits
            if len(self.headers) > limits.max_headers:
                rule = f"a request may carry at most MAX_HEADERS ({limits.max_headers}) header fields"
                self._refusal = _error_response(b"431 Request Header Fields Too Large", "too_many_headers", rule)
            # The head came in at most these bytes: only a large read needs the exact size.
            elif self._unparsed + self._last_read > limits.max_header_bytes and self._head_size() > limits.max_header_bytes:
                self._refusal = self._too_large()
            if self._refusal is not None:
                raise _HeadRefused  # stops the parser; uvicorn then calls send_400_response
            super().on_headers_complete()

        def _head_size(self) -> int:
            return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)  # ": " and CRLF

        def _too_large(self) -> bytes:
            rule = f"the request line and headers must be at most MAX_HEADER_BYTES ({self._limits.max_header_bytes} bytes)"
            return _error_response(b"431 Request Header Fields Too Large", "header_too_large", rule)

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._in_head and not self.transport.is_closing():
                rule = f"the request line and headers must arrive within HEADER_TIMEOUT_S ({self._limits.header_timeout_s:g} s)"
                self._refuse(_error_response(b"408 Request Timeout", "header_timeout", rule))

        def _refuse(self, response: bytes) -> None:
            self._cancel_head_timer()
            self.transport.write(response)
            self.transport.close()

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _warn_connection_limit(self) -> None:
            now = time.monotonic()
            cls = type(self)
            if now - cls._last_limit_warning >= _LIMIT_WARNING_INTERVAL_S:  # one line a minute, not one per connection
                cls._last_limit_warning = now
                log.warning("MAX_CONNECTIONS (%d) reached: new connections are closed at once", self._limits.max_connections)

else:
    BoundedHttpToolsProtocol = None  # type: ignore[assignment,misc]  # no httptools: callers check for None


def _env_limits() -> EdgeLimits:
    """The environment's limits, read once per worker process (the same ``Settings`` the app reads)."""
    cls = BoundedHttpToolsProtocol
    if cls._env_limits is None:
        cls._env_limits = EdgeLimits.from_settings(Settings.from_env())
    return cls._env_limits


def protocol_hooks_present() -> bool:
    """True when uvicorn's httptools protocol still has every method ``BoundedHttpToolsProtocol`` extends."""
    return HttpToolsProtocol is not None and all(callable(getattr(HttpToolsProtocol, name, None)) for name in _HOOKS)


def protocol_with(limits: EdgeLimits) -> type:
    """A ``BoundedHttpToolsProtocol`` subclass bound to ``limits`` (for in-process servers; it does not pickle)."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})


def uvicorn_options(limits: EdgeLimits | None = None) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` that apply ``limits`` at the HTTP edge.

    ``limits=None`` means each worker reads them from its environment (what ``python -m service``
    wants: the class pickles by name into worker processes). Without the httptools hooks the answer
    is uvicorn's h11 protocol with ``h11_max_incomplete_event_size`` and ``limit_concurrency``.
    """
    if protocol_hooks_present():
        return {"http": BoundedHttpToolsProtocol if limits is None else protocol_with(limits)}
    bound = limits or EdgeLimits.from_settings(Settings.from_env())
    log.warning("uvicorn's httptools protocol is unavailable or changed: h11 with a head size bound, no header timeout")
    return {"http": "h11", "h11_max_incomplete_event_size": bound.max_header_bytes, "limit_concurrency": bound.max_connections}

"""HTTP clients for the load generator: a lean HTTP/1.1 keep-alive client, and httpx.

Why a hand-written client by default: the load generator shares a 2-core machine with the
service it measures, so every microsecond it burns is taken from the service. Measured on this
machine against a trivial keep-alive server (one process, 16 connections):

* raw asyncio streams, one connection per worker: ~13 us CPU/request with uvloop
  (~44 000 req/s), ~35 us with the stock asyncio loop;
* httpx 0.28.1 / httpcore 1.0.9 ``AsyncClient``: ~1 000-1 800 us CPU/request (500-700 req/s).
  Two known causes: a failed ``import sniffio`` on every request once anyio stopped depending on
  it (encode/httpcore#1103), and a connection-pool pass that is O(connections x requests)
  (encode/httpcore#1035).

The raw client speaks just enough HTTP/1.1 for a JSON API: Content-Length and chunked bodies,
``Connection: close``, one transparent retry when a reused keep-alive connection turns out to
have been closed by the server before it answered. ``--client httpx`` remains available to
cross-check results.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from service.loadgen.scenarios import Job

# What one exchange yields: status (HTTP code, or a transport failure label), the raw
# traceresponse header value, and the body of a non-2xx answer (for error samples).
Result = tuple[int | str, bytes | None, bytes | None]
TIMEOUT = "timeout"
CONNECT_ERROR = "connect_error"
DISCONNECTED = "disconnected"
PROTOCOL_ERROR = "protocol_error"
_WRITE_HIGH_WATER = 65_536


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--url must be http(s)://host[:port], got {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port)

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.authority}"


class Connection(Protocol):
    async def send(self, prepared: Any) -> Result: ...

    def close(self) -> None: ...


class Backend(Protocol):
    name: str

    def prepare(self, job: Job) -> Any: ...

    def connection(self) -> Connection: ...

    async def aclose(self) -> None: ...


class RawBackend:
    """One keep-alive TCP connection per worker; requests are pre-encoded bytes.

    Timeouts are enforced by one watchdog task that aborts connections whose request is older
    than ``timeout_s`` (checked every ``timeout_s / 4``, at most every 250 ms), not by a timer
    per request: that timer alone cost ~20 % of the client's CPU per request.
    """

    name = "raw"

    def __init__(self, target: Target, timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self._ssl = ssl.create_default_context() if target.scheme == "https" else None
        self._connections: list[RawConnection] = []
        self._watchdog: asyncio.Task[None] | None = None

    def prepare(self, job: Job) -> bytes:
        head = f"{job.method} {job.path} HTTP/1.1\r\nHost: {self.target.authority}\r\nUser-Agent: service.loadgen\r\n"
        if job.method != "GET":
            head += f"Content-Type: {job.content_type}\r\nContent-Length: {len(job.body)}\r\n"
        return head.encode("latin-1") + b"\r\n" + job.body

    def connection(self) -> RawConnection:
        conn = RawConnection(self.target, self.timeout_s, self._ssl)
        self._connections.append(conn)
        if self._watchdog is None:
            self._watchdog = asyncio.ensure_future(self._watch())
        return conn

    async def _watch(self) -> None:
        period = min(max(self.timeout_s / 4, 0.005), 0.25)
        while True:
            await asyncio.sleep(period)
            too_old = time.perf_counter() - self.timeout_s
            for conn in self._connections:
                if conn.started is not None and conn.started < too_old:
                    conn.expire()

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        for conn in self._connections:
            conn.close()
        self._connections.clear()


class RawConnection:
    def __init__(self, target: Target, timeout_s: float, ssl_context: ssl.SSLContext | None) -> None:
        self._target = target
        self._timeout_s = timeout_s
        self._ssl = ssl_context
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.started: float | None = None  # perf_counter() of the request in flight, for the watchdog
        self._expired = False

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    def expire(self) -> None:
        """Called by the watchdog: abort the late exchange; the pending read then fails fast."""
        self._expired = True
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None

    async def send(self, prepared: bytes) -> Result:
        self.started = time.perf_counter()
        self._expired = False
        try:
            return await self._exchange(prepared)
        finally:
            self.started = None

    def _failed(self) -> Result:
        self.close()
        return (TIMEOUT if self._expired else DISCONNECTED), None, None

    async def _exchange(self, wire: bytes) -> Result:
        for attempt in (0, 1):
            reused = self._reader is not None
            if self._reader is not None and self._reader.at_eof():
                self.close()
                reused = False
            if self._writer is None:
                try:
                    async with asyncio.timeout(self._timeout_s):  # connecting is rare: a timer is fine here
                        self._reader, self._writer = await asyncio.open_connection(
                            self._target.host, self._target.port, ssl=self._ssl
                        )
                except TimeoutError:
                    return TIMEOUT, None, None
                except OSError:
                    return CONNECT_ERROR, None, None
            reader, writer = self._reader, self._writer
            assert reader is not None and writer is not None
            try:
                writer.write(wire)
                if len(wire) > _WRITE_HIGH_WATER:
                    await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                nothing_read = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
                if reused and nothing_read and attempt == 0 and not self._expired:
                    self.close()
                    continue  # the server closed an idle keep-alive connection: retry once
                return self._failed()
            try:
                return await self._read_response(head, reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return self._failed()
            except (ValueError, asyncio.LimitOverrunError):
                self.close()
                return PROTOCOL_ERROR, None, None
        return self._failed()

    async def _read_response(self, head: bytes, reader: asyncio.StreamReader) -> Result:
        lines = head.split(b"\r\n")
        status_line = lines[0]
        status = int(status_line[9:12])
        length: int | None = None
        chunked = False
        keep_alive = status_line.startswith(b"HTTP/1.1")
        trace: bytes | None = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"traceresponse":
                trace = value.strip()
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_alive = b"close" not in value.lower()
        if chunked:
            body = await _read_chunked(reader)
        elif length is not None:
            body = await reader.readexactly(length)
        elif status < 200 or status in (204, 304):
            body = b""
        else:
            body = await reader.read()
            keep_alive = False
        if not keep_alive:
            self.close()
        return status, trace, (body[:2048] if status >= 300 else None)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


class HttpxBackend:
    """httpx ``AsyncClient`` with a keep-alive pool as large as the concurrency (for cross-checks)."""

    name = "httpx"

    def __init__(self, target: Target, timeout_s: float, connections: int) -> None:
        import httpx

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._httpx = httpx
        self._client = httpx.AsyncClient(base_url=target.base_url, limits=limits, timeout=timeout_s, trust_env=False)

    def prepare(self, job: Job) -> Job:
        return job

    def connection(self) -> HttpxConnection:
        return HttpxConnection(self._client, self._httpx)

    async def aclose(self) -> None:
        await self._client.aclose()


class HttpxConnection:
    def __init__(self, client: Any, httpx: Any) -> None:
        self._client = client
        self._httpx = httpx

    async def send(self, prepared: Job) -> Result:
        headers = {"content-type": prepared.content_type} if prepared.method != "GET" else {}
        try:
            response = await self._client.request(prepared.method, prepared.path, content=prepared.body or None, headers=headers)
        except self._httpx.TimeoutException:
            return TIMEOUT, None, None
        except self._httpx.ConnectError:
            return CONNECT_ERROR, None, None
        except self._httpx.TransportError:
            return DISCONNECTED, None, None
        trace = response.headers.get("traceresponse")
        status = response.status_code
        return status, trace.encode() if trace else None, (response.content[:2048] if status >= 300 else None)

    def close(self) -> None:
        pass

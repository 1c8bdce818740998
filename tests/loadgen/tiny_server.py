"""A real, tiny HTTP/1.1 server on a loopback port, to exercise the client's wire handling.

It is not the service: it answers every POST with 200 (or the status configured for the path),
always with a fresh ``traceresponse`` header, and can misbehave on purpose in the ways real
servers do (chunked bodies, ``Connection: close``, closing idle keep-alive connections, slowness).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Self


class TinyServer:
    def __init__(
        self,
        *,
        chunked: bool = False,
        close_every: int = 0,
        idle_close_s: float | None = None,
        statuses: dict[str, int] | None = None,
        delays: dict[str, float] | None = None,
    ) -> None:
        self.chunked = chunked
        self.close_every = close_every
        self.idle_close_s = idle_close_s
        self.statuses = statuses or {}
        self.delays = delays or {}
        self.requests: list[str] = []
        self.trace_ids: list[str] = []
        self.connections = 0
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def post_count(self) -> int:
        return sum(1 for r in self.requests if r.startswith("POST"))

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        async with asyncio.timeout(self.idle_close_s):
            head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        method, path, _ = lines[0].split(" ")
        length = next((int(line.split(":")[1]) for line in lines[1:] if line.lower().startswith("content-length")), 0)
        body = await reader.readexactly(length)
        self.requests.append(f"{method} {path}")
        await asyncio.sleep(self.delays.get(path, 0.0))
        rows = 1
        try:
            rows = len(json.loads(body).get("instances", [None])) if body else 0
        except ValueError:
            pass
        payload = json.dumps({"rows": rows}).encode()
        trace_id = secrets.token_hex(16)
        self.trace_ids.append(trace_id)
        status = self.statuses.get(path, 200)
        close = bool(self.close_every) and len(self.requests) % self.close_every == 0
        headers = [f"HTTP/1.1 {status} X", "content-type: application/json", f"traceresponse: 00-{trace_id}-{'1' * 16}-01"]
        if close:
            headers.append("connection: close")
        if self.chunked:
            half = len(payload) // 2
            headers.append("transfer-encoding: chunked")
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (payload[:half], payload[half:]))
            writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + chunks + b"0\r\n\r\n")
        else:
            headers.append(f"content-length: {len(payload)}")
            writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        return not close

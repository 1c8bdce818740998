"""The raw HTTP/1.1 client against a real server that misbehaves the way real servers do."""

from __future__ import annotations

import asyncio
import socket

from service.loadgen.client import CONNECT_ERROR, TIMEOUT, RawBackend, Target
from service.loadgen.scenarios import Job
from tests.loadgen.tiny_server import TinyServer

JOB = Job("/predict", "/predict", b'{"age":35}')


def _run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_statuses_and_trace_ids_are_read_and_one_connection_is_kept_alive() -> None:
    async def scenario() -> None:
        async with TinyServer() as server:
            backend = RawBackend(Target.parse(server.url), timeout_s=5)
            conn = backend.connection()
            results = [await conn.send(backend.prepare(JOB)) for _ in range(5)]
            await backend.aclose()
        assert [r[0] for r in results] == [200] * 5
        assert [r[1] for r in results] == [f"00-{t}-{'1' * 16}-01".encode() for t in server.trace_ids]
        assert server.connections == 1

    _run(scenario())


def test_chunked_bodies_keep_the_connection_in_sync() -> None:
    async def scenario() -> None:
        async with TinyServer(chunked=True, statuses={"/predict": 422}) as server:
            backend = RawBackend(Target.parse(server.url), timeout_s=5)
            conn = backend.connection()
            results = [await conn.send(backend.prepare(JOB)) for _ in range(3)]
            await backend.aclose()
        assert [(status, body) for status, _, body in results] == [(422, b'{"rows": 1}')] * 3
        assert server.connections == 1

    _run(scenario())


def test_connection_close_is_honoured_by_reconnecting() -> None:
    async def scenario() -> None:
        async with TinyServer(close_every=2) as server:
            backend = RawBackend(Target.parse(server.url), timeout_s=5)
            conn = backend.connection()
            statuses = [(await conn.send(backend.prepare(JOB)))[0] for _ in range(6)]
            await backend.aclose()
        assert statuses == [200] * 6
        assert server.connections == 3

    _run(scenario())


def test_idle_keepalive_closed_by_the_server_is_reopened_without_an_error() -> None:
    async def scenario() -> None:
        async with TinyServer(idle_close_s=0.05) as server:
            backend = RawBackend(Target.parse(server.url), timeout_s=5)
            conn = backend.connection()
            first = await conn.send(backend.prepare(JOB))
            await asyncio.sleep(0.3)  # longer than the server's keep-alive: it hangs up
            second = await conn.send(backend.prepare(JOB))
            await backend.aclose()
        assert (first[0], second[0]) == (200, 200)
        assert server.connections == 2
        assert server.post_count == 2  # retried at most on a connection that never saw the request

    _run(scenario())


def test_a_slow_answer_becomes_a_timeout_and_the_next_request_still_works() -> None:
    async def scenario() -> None:
        async with TinyServer(delays={"/slow": 2.0}) as server:
            backend = RawBackend(Target.parse(server.url), timeout_s=0.2)
            conn = backend.connection()
            slow = await conn.send(backend.prepare(Job("/slow", "/slow", b"{}")))
            fast = await conn.send(backend.prepare(JOB))
            await backend.aclose()
        assert slow[0] == TIMEOUT
        assert fast[0] == 200

    _run(scenario())


def test_a_refused_connection_is_reported_not_raised() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: nothing listens there

    async def scenario() -> None:
        backend = RawBackend(Target.parse(f"http://127.0.0.1:{port}"), timeout_s=2)
        assert (await backend.connection().send(backend.prepare(JOB)))[0] == CONNECT_ERROR
        await backend.aclose()

    _run(scenario())


def test_target_parsing_keeps_port_and_brackets_ipv6() -> None:
    assert Target.parse("http://127.0.0.1:8000").authority == "127.0.0.1:8000"
    assert Target.parse("http://[::1]:9000/").authority == "[::1]:9000"
    assert Target.parse("https://localhost").port == 443

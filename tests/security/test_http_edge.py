"""The HTTP edge against hostile clients: huge or numerous headers, trickled heads, too many connections.

The real app runs behind a real uvicorn server with ``service.http_edge.uvicorn_options`` (what
``python -m service`` uses), on raw sockets. Each refusal must happen before the app runs: no span,
no request record. Afterwards a normal request is still scored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.api.schemas import EXAMPLE_APPLICATION
from service.config import Settings
from service.http_edge import EdgeLimits, protocol_hooks_present, uvicorn_options
from tests.conftest import Captured, build_client
from tests.reliability.harness import ServiceProcess
from tests.support.live_server import connect, exchange, live_server, read_response, status_of

LIMITS = EdgeLimits(max_header_bytes=32_768, max_headers=100, header_timeout_s=1.0, max_connections=1000)
BODY = json.dumps(EXAMPLE_APPLICATION).encode()


def predict_request(extra_headers: bytes = b"", target: bytes = b"/predict") -> bytes:
    return (
        b"POST "
        + target
        + b" HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + extra_headers
        + b"Content-Length: %d\r\n\r\n" % len(BODY)
        + BODY
    )


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[int, Captured]]:
    client, captured = build_client(Settings.from_env({}, profile_sample_rate=0.0))
    with live_server(client.app, **uvicorn_options(LIMITS)) as port:
        yield port, captured


def _still_serving(port: int) -> None:
    response = exchange(port, predict_request())
    assert status_of(response) == 200, response[:300]


def _refused_before_the_app(port: int, captured: Captured, request: bytes, status: int, rule: str) -> None:
    captured.spans.clear()
    response = exchange(port, request)
    assert status_of(response) == status, response[:300]
    detail = json.loads(response.split(b"\r\n\r\n", 1)[1])["detail"]
    assert detail[0]["loc"] == ["header"] and detail[0]["type"] == rule, detail
    assert not captured.finished_spans(), "the app ran"


CASES = [
    ("one 1 MiB header", predict_request(b"X-Big: " + b"a" * 1_048_576 + b"\r\n"), "header_too_large"),
    ("one 16 MiB header", predict_request(b"X-Big: " + b"a" * 16 * 1_048_576 + b"\r\n"), "header_too_large"),
    ("2000 small headers", predict_request(b"".join(b"X-H%d: 1\r\n" % i for i in range(2000))), "too_many_headers"),
    ("101 headers", predict_request(b"".join(b"X-H%d: 1\r\n" % i for i in range(97))), "too_many_headers"),
    ("a 64 KiB request target", predict_request(target=b"/predict?q=" + b"a" * 65_536), "header_too_large"),
]


@pytest.mark.parametrize(("request_bytes", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_oversized_heads_are_431_before_the_app(served: tuple[int, Captured], request_bytes: bytes, rule: str) -> None:
    port, captured = served
    _refused_before_the_app(port, captured, request_bytes, 431, rule)
    _still_serving(port)


def test_heads_within_the_limits_are_served(served: tuple[int, Captured]) -> None:
    port, _ = served
    assert status_of(exchange(port, predict_request(b"X-Big: " + b"a" * 20_000 + b"\r\n"))) == 200
    assert status_of(exchange(port, predict_request(b"".join(b"X-H%d: 1\r\n" % i for i in range(90))))) == 200


def test_an_unfinished_head_is_refused_once_past_the_limit(served: tuple[int, Captured]) -> None:
    """Memory per connection stays bounded: the server answers without waiting for the head to end."""
    port, captured = served
    captured.spans.clear()
    with connect(port) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\nX-Endless: ")
        sent = 0
        try:
            while sent < 4 * 1_048_576:
                sock.sendall(b"a" * 65_536)
                sent += 65_536
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = read_response(sock)
    assert status_of(response) == 431 or sent < 4 * 1_048_576, response[:200]
    assert not captured.finished_spans()


@pytest.mark.parametrize(
    "partial",
    [b"", b"GET /health/live HTTP/1.1\r\nHost: te", b"POST /predict HTTP/1.1\r\nContent-Length: 10\r\n"],
    ids=["nothing sent", "half a head", "head without its end"],
)
def test_a_head_that_does_not_arrive_in_time_gets_408_and_the_connection_closed(
    served: tuple[int, Captured], partial: bytes
) -> None:
    port, _ = served
    with connect(port, timeout=LIMITS.header_timeout_s + 4) as sock:
        sock.sendall(partial)
        response = read_response(sock)  # returns when the server closes; the socket timeout is the failure
    assert status_of(response) == 408, response[:200]
    assert b'"header_timeout"' in response


def test_a_trickled_head_is_cut_off_even_while_bytes_keep_coming(served: tuple[int, Captured]) -> None:
    port, _ = served
    with connect(port, timeout=LIMITS.header_timeout_s + 4) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nX-Slow: ")
        closed = False
        for _ in range(int((LIMITS.header_timeout_s + 4) / 0.1)):
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
        response = read_response(sock)
    assert status_of(response) == 408 or closed, response[:200]


def test_a_kept_alive_connection_serves_several_requests(served: tuple[int, Captured]) -> None:
    port, _ = served
    keep = predict_request().replace(b"Connection: close\r\n", b"")
    with connect(port) as sock:
        for _ in range(3):
            sock.sendall(keep)
            answer = b""
            while b'"model_version"' not in answer:
                answer += sock.recv(65536)
            assert status_of(answer) == 200


def test_connections_past_max_connections_are_closed_at_once() -> None:
    client, _ = build_client(Settings.from_env({}, profile_sample_rate=0.0))
    limits = EdgeLimits(max_header_bytes=32_768, max_headers=100, header_timeout_s=30.0, max_connections=5)
    with live_server(client.app, **uvicorn_options(limits)) as port:
        idle = [connect(port) for _ in range(limits.max_connections)]
        try:
            with connect(port, timeout=2) as extra:
                extra.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
                assert read_response(extra) == b"", "a connection over MAX_CONNECTIONS was served"
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 5
        while status_of(exchange(port, predict_request())) != 200:  # slots free as the server sees the closes
            assert time.monotonic() < deadline, "the server did not recover after the idle connections closed"
            time.sleep(0.05)


def test_the_httptools_hooks_exist_in_this_uvicorn() -> None:
    """The compatibility check itself: if uvicorn changes, this fails before the fallback silently takes over."""
    assert protocol_hooks_present()
    assert uvicorn_options(LIMITS)["http"].limits == LIMITS


def test_without_the_hooks_the_fallback_is_h11_with_a_head_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.http_edge.protocol_hooks_present", lambda: False)
    options = uvicorn_options(LIMITS)
    assert options == {"http": "h11", "h11_max_incomplete_event_size": 32_768, "limit_concurrency": 1000}
    client, captured = build_client(Settings.from_env({}, profile_sample_rate=0.0))
    with live_server(client.app, **options) as port:
        assert status_of(exchange(port, predict_request(b"X-Big: " + b"a" * 1_048_576 + b"\r\n"))) in (0, 400, 431)
        assert not captured.finished_spans()
        assert status_of(exchange(port, predict_request())) == 200


def test_standalone_python_m_service_applies_the_limits_from_its_environment(tmp_path: Path) -> None:
    """What ``make run`` starts, on its own: no proxy in front, limits read from the environment."""
    env = {"MAX_HEADERS": "20", "HEADER_TIMEOUT_S": "1", "OTEL_SDK_DISABLED": "true", "TELEMETRY_DIR": str(tmp_path / "t")}
    service = ServiceProcess(env, tmp_path / "stdout.log")
    try:
        service.wait_ready()
        assert status_of(exchange(service.port, predict_request(b"X-Big: " + b"a" * 1_048_576 + b"\r\n"))) == 431
        assert status_of(exchange(service.port, predict_request(b"".join(b"X-H%d: 1\r\n" % i for i in range(20))))) == 431
        with connect(service.port, timeout=5) as sock:
            assert status_of(read_response(sock)) == 408
        assert status_of(exchange(service.port, predict_request())) == 200
    finally:
        service.kill()
    assert "Traceback" not in (tmp_path / "stdout.log").read_text()

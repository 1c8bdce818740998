"""A client that gives up mid-upload is the client's outcome, not a server error.

The real app behind a real uvicorn server; the client announces a large body (or streams a chunked
one), sends part of it and closes the socket. Then: no traceback and no ERROR record in the stdout
log or the exported logs, the server span is not ERROR, and ``http.server.request.duration`` records
``error.type`` ``client_disconnect`` with no status code, so no 5xx series exists for alerts to see.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from service.config import Settings
from service.http_edge import EdgeLimits, uvicorn_options
from tests.conftest import Captured, build_client
from tests.support.live_server import connect, live_server

LIMITS = EdgeLimits(max_header_bytes=32_768, max_headers=100, header_timeout_s=10.0, max_connections=100)
HEAD = b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
UPLOADS = {
    "with Content-Length": HEAD + b"Content-Length: 1000000\r\n\r\n" + b'{"age": ' + b" " * 10_000,
    "chunked, without Content-Length": HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"2710\r\n" + b" " * 10_000 + b"\r\n",
}


@pytest.fixture
def served() -> Iterator[tuple[int, Captured]]:
    client, captured = build_client(Settings.from_env({"LOG_FORMAT": "json"}, profile_sample_rate=0.0))
    with live_server(client.app, **uvicorn_options(LIMITS)) as port:
        yield port, captured


def _duration_points(captured: Captured) -> list[dict[str, Any]]:
    return [dict(p.attributes) for p in captured.metric_points("http.server.request.duration")]


def _wait_for_request(captured: Captured) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while not (points := _duration_points(captured)):
        assert time.monotonic() < deadline, "the abandoned request was never recorded"
        time.sleep(0.05)
    return points


@pytest.mark.parametrize("upload", list(UPLOADS.values()), ids=list(UPLOADS))
def test_a_client_gone_mid_upload_is_not_a_server_error(
    served: tuple[int, Captured], capfd: pytest.CaptureFixture[str], upload: bytes
) -> None:
    port, captured = served
    with connect(port) as sock:
        sock.sendall(upload)
        time.sleep(0.2)  # the app is reading the body when the client leaves
    points = _wait_for_request(captured)
    assert points == [{"http.request.method": "POST", "http.route": "/predict", "error.type": "client_disconnect"}], (
        points
    )  # no http.response.status_code: nothing was answered
    span = captured.span("POST /predict")
    assert span.status.status_code is not StatusCode.ERROR
    assert span.attributes is not None and span.attributes.get("error.type") == "client_disconnect"
    assert "http.response.status_code" not in span.attributes
    errors = [r.log_record for r in captured.logs.get_finished_logs() if (r.log_record.severity_number or 0).value >= 17]
    assert not errors, [e.body for e in errors]
    out = capfd.readouterr().out
    assert "Traceback" not in out and "ClientDisconnect" not in out and '"level": "ERROR"' not in out, out[-2000:]

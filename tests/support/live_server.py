"""The real app behind a real uvicorn server in a background thread, for tests that need sockets.

``live_server(app, **uvicorn_options)`` yields the port; raw-socket helpers speak HTTP/1.1 the way a
misbehaving client would (partial uploads, huge heads, trickled bytes).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def live_server(app: Any, **options: Any) -> Iterator[int]:
    """Serve ``app`` on a free loopback port until the block ends; ``options`` go to ``uvicorn.Config``."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or the socket times out)."""
    chunks: list[bytes] = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection (with ``Connection: close``) and return the whole answer."""
    with connect(port) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before a huge request is fully written
        return read_response(sock)


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP/1.1 response (0 when nothing came back)."""
    if not response.startswith(b"HTTP/1.1 "):
        return 0
    return int(response[9:12])

"""A real HTTP server answering ``GET /sampling?service=...`` with whatever strategy JSON a test sets (Jaeger's contract)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class StrategyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.body: bytes = b"{}"
        self.status = 200
        self.delay_s = 0.0
        self.services: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def serve(self, document: Any, status: int = 200) -> None:
        """Answer with ``document`` as JSON (bytes: as is) and ``status`` from now on."""
        self.body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    server: StrategyServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/sampling":
            self.send_error(404)
            return
        self.server.services.extend(parse_qs(url.query).get("service", []))
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def strategy_server(document: Any = None) -> Iterator[StrategyServer]:
    server = StrategyServer()
    if document is not None:
        server.serve(document)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def probabilistic(rate: float) -> dict[str, Any]:
    """Jaeger v2's answer (Thrift-style JSON, integer enum) for a probabilistic strategy."""
    return {"strategyType": 0, "probabilisticSampling": {"samplingRate": rate}}


def per_operation(default: float, operations: dict[str, float], lower_bound: float = 0.0) -> dict[str, Any]:
    """Jaeger v2's answer for a file strategy with ``operation_strategies``."""
    return {
        "strategyType": 0,
        "probabilisticSampling": {"samplingRate": default},
        "operationSampling": {
            "defaultSamplingProbability": default,
            "defaultLowerBoundTracesPerSecond": lower_bound,
            "perOperationStrategies": [
                {"operation": name, "probabilisticSampling": {"samplingRate": rate}} for name, rate in operations.items()
            ],
        },
    }

"""Jaeger's sampling endpoint for the ``jaeger-remote`` row: ``GET /sampling?service=...`` in a harness thread.

It answers what Jaeger 2.12 answers for ``collector-config/jaeger/sampling-strategies.json`` (per
operation, 10 % everywhere), so the row pays a real per-operation lookup on every root. The server polls
once a minute, so this thread's CPU is negligible and is not the measured server's anyway.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STRATEGIES_FILE = REPO / "collector-config" / "jaeger" / "sampling-strategies.json"


def jaeger_answer(strategies: dict[str, Any], service: str) -> dict[str, Any]:
    """The sampling endpoint's JSON for ``service`` from a strategies file (probabilistic entries, as ours has)."""
    entry = next((s for s in strategies.get("service_strategies", []) if s.get("service") == service), None)
    entry = entry or strategies["default_strategy"]
    answer: dict[str, Any] = {"strategyType": 0, "probabilisticSampling": {"samplingRate": entry["param"]}}
    operations = entry.get("operation_strategies") or []
    if operations:
        answer["operationSampling"] = {
            "defaultSamplingProbability": entry["param"],
            "defaultLowerBoundTracesPerSecond": 0,
            "perOperationStrategies": [
                {"operation": op["operation"], "probabilisticSampling": {"samplingRate": op["param"]}} for op in operations
            ],
        }
    return answer


class StrategyServer:
    """The endpoint on a free loopback port, serving the repo's strategies file; ``stop()`` when done."""

    def __init__(self, strategies_file: Path = STRATEGIES_FILE) -> None:
        strategies = json.loads(strategies_file.read_text())

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service = self.path.partition("service=")[2].split("&")[0]
                body = json.dumps(jaeger_answer(strategies, service.replace("%20", " "))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="bench-strategies", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

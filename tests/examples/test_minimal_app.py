"""``examples/minimal_app.py`` adopts ``otel`` through its public API alone: served by uvicorn with the
embedded default (no collector), one ``GET /hello`` leaves a trace of the server span and its two stages."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

import otel
from tests.support.net import free_port, wait_ok

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "minimal_app.py"


def test_the_example_uses_only_the_public_api_in_a_few_lines() -> None:
    source = EXAMPLE.read_text()
    tree = ast.parse(source)
    from_otel = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("otel")]
    assert from_otel and all(node.module == "otel" for node in from_otel), "imports from otel itself, no submodule"
    assert {alias.name for node in from_otel for alias in node.names} <= set(otel.__all__)
    assert not any(isinstance(node, ast.Import) and any(a.name.startswith("otel") for a in node.names) for node in ast.walk(tree))
    assert len(source.splitlines()) <= 30


def test_uvicorn_serves_it_and_the_trace_has_the_server_span_and_both_stages(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {"PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.minimal_app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,  # the embedded default writes ./telemetry
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ok(f"http://127.0.0.1:{port}/openapi.json", 30, "the example app")
        reply = httpx.get(f"http://127.0.0.1:{port}/hello", params={"name": "otel"})
        assert reply.status_code == 200 and reply.json()["message"] == "hello, otel"
    finally:
        server.send_signal(signal.SIGINT)  # a clean shutdown flushes the spans to the file
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0, output

    spans = [
        span
        for line in (tmp_path / "telemetry" / "traces.jsonl").read_text().splitlines()
        for resource_spans in json.loads(line)["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    ]
    (server_span,) = [s for s in spans if s["name"] == "GET /hello"]
    assert server_span["kind"] == 2 and "parentSpanId" not in server_span
    assert reply.headers["traceresponse"].split("-")[1:3] == [server_span["traceId"], server_span["spanId"]]
    children = [s for s in spans if s.get("parentSpanId") == server_span["spanId"]]
    assert [s["name"] for s in sorted(children, key=lambda s: int(s["startTimeUnixNano"]))] == ["prepare", "compute"]
    assert all(s["traceId"] == server_span["traceId"] for s in children)

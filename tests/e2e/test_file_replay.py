"""The embedded default's files replay into the real Collector, line by line, unchanged.

The ``otlpjsonfile`` receiver of the project's Collector release is not served by the Go module proxy
this project builds from, so the files are replayed the other way the Collector reads OTLP/JSON: each
line, as it is on disk, is the body of a ``POST /v1/traces`` or ``/v1/logs`` (``application/json``)
to the Collector's OTLP/HTTP receiver; both receivers decode with the same pdata JSON unmarshaler.
The Collector (the stack's own build, started here on free ports) forwards what it decoded over
OTLP/gRPC to a receiver decoding with opentelemetry-proto, and every span and log record must come
out as the file had it. Needs no running stack, only the built binary (``scripts/stack.sh provision``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from service.api.schemas import EXAMPLE_APPLICATION
from service.app import create_app
from service.config import Settings
from tests.support.net import free_port
from tests.support.otlp_json import otlp_json
from tests.support.otlp_receiver import GrpcReceiver

ROOT = Path(__file__).resolve().parents[2]


def collector_binary() -> Path:
    """Where ``scripts/stack.sh`` builds the Collector from the current OCB manifest (``stack.sh collector-path``)."""
    found = subprocess.run(
        ["bash", str(ROOT / "scripts" / "stack.sh"), "collector-path"], capture_output=True, text=True, check=True
    )
    return Path(found.stdout.strip())


@pytest.fixture
def receiver() -> Iterator[GrpcReceiver]:
    grpc_receiver = GrpcReceiver().start()
    yield grpc_receiver
    grpc_receiver.stop()


@pytest.fixture
def collector(tmp_path: Path, receiver: GrpcReceiver) -> Iterator[str]:
    """A Collector with an OTLP/HTTP receiver on a free port, forwarding traces and logs to ``receiver``; its base URL."""
    binary = collector_binary()
    assert binary.exists(), f"no Collector build at {binary}: run scripts/stack.sh provision"
    port = free_port()
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "exporters": {"otlp_grpc": {"endpoint": f"127.0.0.1:{receiver.port}", "tls": {"insecure": True}}},
        "service": {
            "pipelines": {kind: {"receivers": ["otlp"], "exporters": ["otlp_grpc"]} for kind in ("traces", "logs")},
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
        },
    }
    config_path = tmp_path / "collector.yaml"
    config_path.write_text(yaml.safe_dump(config))
    with (tmp_path / "collector.log").open("wb") as log:
        process = subprocess.Popen([str(binary), f"--config={config_path}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, tmp_path / "collector.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the Collector exited: {log.read_text()[-2000:]}"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"the Collector did not listen on {port} within {timeout_s} s: {log.read_text()[-2000:]}")


def _post(url: str, line: bytes) -> int:
    request = urllib.request.Request(url, data=line, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def _flat(requests: list[dict[str, Any]], resources: str, scopes: str, items: str) -> list[str]:
    """Every item with its resource and scope, as sorted canonical JSON (the Collector may regroup lines)."""
    flat = [
        json.dumps({"resource": r.get("resource"), "scope": s.get("scope"), "item": item}, sort_keys=True)
        for request in requests
        for r in request.get(resources, [])
        for s in r.get(scopes, [])
        for item in s.get(items, [])
    ]
    return sorted(flat)


def _make_files(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real service traffic written by the embedded default: profiled and slow requests, a 422, log records for each."""
    for name in [n for n in os.environ if n.startswith("OTEL_EXPORTER_OTLP")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    settings = {"TELEMETRY_DIR": str(directory), "REQUEST_LOG": "all", "PROFILE_SAMPLE_RATE": "1", "FAULT_SLOW_FEATURE_MS": "5"}
    with TestClient(create_app(Settings.from_env(settings))) as client:
        for age in range(20, 34):  # 14 requests, 5 spans each: more spans than one line holds
            assert client.post("/predict", json={**EXAMPLE_APPLICATION, "age": age}).status_code == 200
        assert client.post("/predict", json={**EXAMPLE_APPLICATION, "age": "old"}).status_code == 422


def test_every_line_replays_into_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collector: str, receiver: GrpcReceiver
) -> None:
    _make_files(tmp_path / "telemetry", monkeypatch)
    trace_lines = (tmp_path / "telemetry" / "traces.jsonl").read_bytes().splitlines()
    log_lines = (tmp_path / "telemetry" / "logs.jsonl").read_bytes().splitlines()
    assert len(trace_lines) > 1 and log_lines

    for line in trace_lines:
        assert _post(f"{collector}/v1/traces", line) == 200
    for line in log_lines:
        assert _post(f"{collector}/v1/logs", line) == 200

    written_spans = _flat([json.loads(line) for line in trace_lines], "resourceSpans", "scopeSpans", "spans")
    written_logs = _flat([json.loads(line) for line in log_lines], "resourceLogs", "scopeLogs", "logRecords")
    received = receiver.received
    assert received.wait_for(
        lambda: len(received.spans()) >= len(written_spans) and len(received.log_records()) >= len(written_logs)
    )
    with received.lock:
        spans_out = _flat([otlp_json(r) for r in received.traces], "resourceSpans", "scopeSpans", "spans")
        logs_out = _flat([otlp_json(r) for r in received.logs], "resourceLogs", "scopeLogs", "logRecords")
    assert any('"profile.hot_function"' in span for span in written_spans), "profiled spans carry hot-function events"
    assert spans_out == written_spans
    assert logs_out == written_logs

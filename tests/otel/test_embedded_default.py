"""No collector configured: metrics on /metrics, traces and logs as OTLP/JSON lines on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from otel.files import RotatingJsonLines
from service.app import create_app
from service.config import Settings


def test_traces_and_logs_land_in_otlp_json_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example: dict[str, Any]) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    app = create_app(Settings.from_env({"TELEMETRY_DIR": str(tmp_path), "REQUEST_LOG": "sampled"}))
    with TestClient(app) as client:
        trace_id = client.post("/predict", json=example).headers["traceresponse"].split("-")[1]
        assert "ml_stage_duration_seconds_count" in client.get("/metrics").text
    trace_lines = [json.loads(line) for line in (tmp_path / "traces.jsonl").read_text().splitlines()]
    spans = [s for line in trace_lines for rs in line["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert {s["traceId"] for s in spans} == {trace_id}, "ids are hex as in OTLP/JSON, not base64"
    assert {"validation", "onnx_inference"} <= {s["name"] for s in spans}
    assert all(isinstance(s["kind"], int) for s in spans), "enums are integers in OTLP/JSON"
    log_lines = [json.loads(line) for line in (tmp_path / "logs.jsonl").read_text().splitlines()]
    records = [r for line in log_lines for rl in line["resourceLogs"] for sl in rl["scopeLogs"] for r in sl["logRecords"]]
    assert trace_id in {r.get("traceId") for r in records}


def test_files_rotate_by_size_keeping_backups(tmp_path: Path) -> None:
    sink = RotatingJsonLines(tmp_path / "traces.jsonl", max_bytes=100, backups=2)
    for index in range(10):
        sink.write(json.dumps({"n": index, "pad": "x" * 30}).encode())
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["traces.jsonl", "traces.jsonl.1", "traces.jsonl.2"]
    assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())
    newest = [json.loads(line)["n"] for line in (tmp_path / "traces.jsonl").read_text().splitlines()]
    assert newest[-1] == 9

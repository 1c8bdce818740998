"""No collector configured: metrics on /metrics, traces and logs as OTLP/JSON lines on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel.files import CHUNK, JsonLinesSpanExporter, RotatingJsonLines
from service.app import create_app
from service.config import Settings
from tests.support.in_memory import recording_provider


def test_traces_and_logs_land_in_otlp_json_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example: dict[str, Any]
) -> None:
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


def _spans(count: int, first_name: str = "span 0") -> list[ReadableSpan]:
    provider, exporter = recording_provider(resource=Resource.create({"service.name": "svc"}))
    tracer = provider.get_tracer("t")
    for index in range(count):
        with tracer.start_as_current_span(first_name if index == 0 else f"span {index}"):
            pass
    return list(exporter.get_finished_spans())


def test_a_batch_is_written_in_bounded_lines_each_a_whole_request(tmp_path: Path) -> None:
    spans = _spans(2 * CHUNK + 5)
    assert JsonLinesSpanExporter(RotatingJsonLines(tmp_path / "traces.jsonl", 10**7, 1)).export(spans) == SpanExportResult.SUCCESS
    lines = [json.loads(line) for line in (tmp_path / "traces.jsonl").read_text().splitlines()]
    per_line = [[s["spanId"] for rs in line["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]] for line in lines]
    assert [len(ids) for ids in per_line] == [CHUNK, CHUNK, 5]
    assert [i for ids in per_line for i in ids] == [f"{s.context.span_id:016x}" for s in spans]
    assert all(line["resourceSpans"][0]["resource"]["attributes"] for line in lines), "every line carries its resource"


def test_a_line_that_cannot_be_encoded_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    spans = _spans(2 * CHUNK, first_name="\ud800")  # a lone surrogate: no JSON encoding exists for it
    exporter = JsonLinesSpanExporter(RotatingJsonLines(tmp_path / "traces.jsonl", 10**7, 1))
    assert exporter.export(spans) == SpanExportResult.FAILURE
    (line,) = [json.loads(text) for text in (tmp_path / "traces.jsonl").read_text().splitlines()]
    assert [s["name"] for s in line["resourceSpans"][0]["scopeSpans"][0]["spans"]] == [s.name for s in spans[CHUNK:]]

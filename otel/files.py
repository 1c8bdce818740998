"""OTLP/JSON-lines file exporters: the embedded default when no collector is configured.

Each line is one ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` in the OTLP/JSON
encoding (hex trace and span ids, integer enums), i.e. what the Collector's ``file`` exporter
writes and its ``otlpjsonfile`` receiver reads, so the files can be replayed into any backend
later. Files rotate by size; writes happen on the SDK's export thread, never on a request.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def otlp_json(message: Message) -> dict[str, Any]:
    """Protobuf's JSON mapping, corrected to OTLP/JSON: ids are hex, not base64."""
    return _hex_ids(MessageToDict(message, use_integers_for_enums=True))


def _hex_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: base64.b64decode(value).hex() if key in _ID_KEYS else _hex_ids(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


class RotatingJsonLines:
    """Append-only JSON-lines file rotated at ``max_bytes`` keeping ``backups`` old files."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, line: bytes) -> None:
        with self._lock:
            if self.path.exists() and self.path.stat().st_size + len(line) > self.max_bytes:
                self._rotate()
            with self.path.open("ab") as handle:
                handle.write(line + b"\n")

    def _rotate(self) -> None:
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups > 0:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()


def _dump(message: Message) -> bytes:
    import orjson  # local: orjson is a service dependency, the otel package only needs it here

    return orjson.dumps(otlp_json(message))


class JsonLinesSpanExporter(SpanExporter):
    def __init__(self, sink: RotatingJsonLines) -> None:
        self._sink = sink

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            self._sink.write(_dump(encode_spans(spans)))
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release: every write opens and closes the file."""


class JsonLinesLogExporter(LogRecordExporter):
    def __init__(self, sink: RotatingJsonLines) -> None:
        self._sink = sink

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            self._sink.write(_dump(encode_logs(batch)))
        except OSError:
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        """Nothing to release: every write opens and closes the file."""

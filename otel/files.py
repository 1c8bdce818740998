"""OTLP/JSON-lines file exporters: the embedded default when no collector is configured.

Each line is one ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` in the OTLP/JSON
encoding (hex trace and span ids, integer enums), i.e. what the Collector's ``file`` exporter
writes and its ``otlpjsonfile`` receiver reads, so the files can be replayed into any backend
later. Files rotate by size; writes happen on the SDK's export thread, never on a request.

The lines come from ``otel.otlp_json`` (the OTLP exporters' span encoder, laid out as JSON). A batch
is written as lines of at most ``CHUNK`` items, and the export thread sleeps briefly between two
lines: the event loop, which needs the GIL the export thread holds, never waits for more than one
line's encoding (it would otherwise wait out whole batches, 5 ms GIL switch intervals at a time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel.compat import LogRecordExporter, LogRecordExportResult, ReadableLogRecord
from otel.otlp_json import JsonLogEncoder, JsonSpanEncoder

log = logging.getLogger(__name__)

CHUNK = 32
"""Spans or log records per line: bounds how long one encoding step holds the GIL, and the line size."""
PAUSE_S = 0.0001
"""Sleep between two lines of one batch: a real sleep (not ``sleep(0)``) hands the GIL to a waiting thread."""


class RotatingJsonLines:
    """Append-only JSON-lines file rotated at ``max_bytes`` keeping ``backups`` old files."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.failed = False  # whether a write or encoding has failed before (see ``_report``)
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, line: bytes) -> None:
        """Append ``line`` and a newline, rotating first when the file would pass ``max_bytes``."""
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


def write_chunked(encode: Callable[[Sequence[Any]], bytes], sink: RotatingJsonLines, items: Sequence[Any]) -> bool:
    """Encode ``items`` as lines of at most ``CHUNK`` and append them to ``sink``; False when any line failed.

    A line that cannot be encoded or written is dropped (the SDK counts the failed export), the others are kept.
    """
    ok = True
    for start in range(0, len(items), CHUNK):
        if start:
            time.sleep(PAUSE_S)
        try:
            sink.write(encode(items[start : start + CHUNK]))
        except Exception as error:
            ok = False
            _report(sink, error)
    return ok


def _report(sink: RotatingJsonLines, error: Exception) -> None:
    """The first failure of a file at ERROR, later ones at DEBUG (an ERROR record about logs.jsonl goes to logs.jsonl)."""
    level = logging.DEBUG if sink.failed else logging.ERROR
    sink.failed = True
    log.log(level, "Dropped a telemetry batch for %s: %s", sink.path, error)


class JsonLinesSpanExporter(SpanExporter):
    """Appends span batches to a ``RotatingJsonLines`` as OTLP/JSON lines."""

    def __init__(self, sink: RotatingJsonLines) -> None:
        self._sink = sink
        self._encoder = JsonSpanEncoder()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = write_chunked(self._encoder.encode, self._sink, spans)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        """Nothing to release: every write opens and closes the file."""


class JsonLinesLogExporter(LogRecordExporter):
    """Appends log record batches to a ``RotatingJsonLines`` as OTLP/JSON lines."""

    def __init__(self, sink: RotatingJsonLines) -> None:
        self._sink = sink
        self._encoder = JsonLogEncoder()

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        ok = write_chunked(self._encoder.encode, self._sink, batch)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        """Nothing to release: every write opens and closes the file."""

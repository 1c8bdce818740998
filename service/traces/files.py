"""The embedded default's files as a trace source: ``traces*.jsonl*`` and ``logs*.jsonl*`` in one directory.

Every file whose name starts with ``traces`` (or ``logs``) and contains ``.jsonl`` is read, so rotated
files (``traces.jsonl.1``) and files of several workers (``traces-<pid>.jsonl``) are all included.
A last line without its newline is a write in progress and is skipped quietly; any other line that is
not an OTLP/JSON request is skipped and counted (``warnings``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson

from service.traces import otlp_json
from service.traces.model import LogRecord, Query, SourceUnavailable, Span, Trace, UnknownTrace

T = TypeVar("T")


class FileSource:
    """Reads a telemetry directory written by the service's embedded default (``TELEMETRY_DIR``)."""

    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise SourceUnavailable(
                f"{directory}: no such directory (the embedded default writes TELEMETRY_DIR, default ./telemetry)"
            )
        self.directory = directory
        self.description = str(directory)
        self._malformed: dict[Path, int] = defaultdict(int)
        self._spans: list[Span] | None = None

    def _files(self, prefix: str) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if p.name.startswith(prefix) and ".jsonl" in p.name and p.is_file())

    def _decoded(self, prefix: str, decode: Callable[[dict[str, Any]], Iterable[T]]) -> Iterator[T]:
        """``decode`` applied to each line of the ``prefix`` files; lines that are not OTLP/JSON are counted, not raised."""
        for path in self._files(prefix):
            try:
                with path.open("rb") as handle:
                    for line in handle:
                        yield from self._decode_line(path, line, decode)
            except OSError as exc:
                raise SourceUnavailable(f"{path}: {exc.strerror or exc}") from None

    def _decode_line(self, path: Path, line: bytes, decode: Callable[[dict[str, Any]], Iterable[T]]) -> list[T]:
        if not line.strip():
            return []
        try:
            request = orjson.loads(line)
            if not isinstance(request, dict):
                raise TypeError("not an object")
            return list(decode(request))
        except (ValueError, TypeError, AttributeError, KeyError):
            if line.endswith(b"\n"):  # a last line without its newline is still being written: not malformed
                self._malformed[path] += 1
            return []

    def _all_spans(self) -> list[Span]:
        if self._spans is None:
            seen = {(span.trace_id, span.span_id): span for span in self._decoded("traces", otlp_json.spans)}
            self._spans = list(seen.values())
        return self._spans

    def requests(self, query: Query) -> list[Trace]:
        """Every trace with a server span that matches ``query`` (``limit`` is left to the caller)."""
        by_trace: dict[str, Trace] = {}
        for span in self._all_spans():
            by_trace.setdefault(span.trace_id, Trace(span.trace_id)).spans.append(span)
        return [t for t in by_trace.values() if (server := t.server) is not None and query.matches(server)]

    def trace(self, trace_id: str) -> Trace:
        spans = [s for s in self._all_spans() if s.trace_id == trace_id]
        if not spans:
            raise UnknownTrace(f"trace {trace_id}: not found in {self.directory} (traces*.jsonl*)")
        return Trace(trace_id, spans)

    def logs(self, trace_id: str) -> list[LogRecord]:
        records = [r for r in self._decoded("logs", otlp_json.log_records) if r.trace_id == trace_id]
        return sorted(records, key=lambda r: r.time_ns)

    def warnings(self) -> list[str]:
        total = sum(self._malformed.values())
        if not total:
            return []
        where = ", ".join(f"{path.name}: {count}" for path, count in sorted(self._malformed.items()))
        return [f"skipped {total} malformed line(s) in {self.directory} ({where})"]

"""What each command shows: the slowest-requests table, and one trace's waterfall with its hot functions and logs."""

from __future__ import annotations

from datetime import UTC, datetime

from otel.hot_functions import PROFILE_OBSERVED_MS, PROFILE_TRIGGER
from otel.profiling import CPU_TIME_MS, RSS_DELTA_MB, RSS_MB
from service.traces.model import STAGES, LogRecord, Span, Trace, location
from service.traces.records import SERVICE_INSTANCE_ID, RequestRecord, record
from service.traces.render import Output

BAR_WIDTH = 40
STAGE_HEADERS = {
    "validation": "validation",
    "feature_engineering": "features",
    "onnx_inference": "onnx",
    "serialization": "serialize",
}


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def slowest_table(out: Output, found: list[RequestRecord], source: str) -> None:
    """One row per request: trace id, start (UTC), route, status, latency, each stage's ms, the top hot function."""
    headers = [
        "trace id",
        "start (UTC)",
        "route",
        "status",
        "latency ms",
        *(STAGE_HEADERS[s] for s in STAGES),
        "top hot function",
    ]
    rows = []
    for rec in found:
        hot = rec.hot_functions[0] if rec.hot_functions else None
        rows.append(
            [
                rec.trace_id,
                _time(rec.start_time),
                rec.route or "",
                "" if rec.status is None else str(rec.status),
                _ms(rec.latency_ms),
                *(_ms(rec.stage_ms.get(stage)) for stage in STAGES),
                f"{hot.name} ({hot.self_ms:.1f} ms)" if hot else "",
            ]
        )
    title = f"{len(found)} slowest recorded request(s) from {source}"
    out.table(title, headers, rows, right=frozenset(range(3, 5 + len(STAGES))))


def _ordered(trace: Trace) -> list[tuple[Span, int]]:
    """Spans depth first from each root (a span whose parent is not in the trace), children in start order."""
    ids = {s.span_id for s in trace.spans}
    roots = sorted((s for s in trace.spans if s.parent_id not in ids), key=lambda s: s.start_ns)
    out: list[tuple[Span, int]] = []

    def visit(span: Span, depth: int) -> None:
        out.append((span, depth))
        for child in trace.children(span):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    return out


def _bar(span: Span, start_ns: int, total_ns: int, char: str) -> str:
    offset = round((span.start_ns - start_ns) / total_ns * BAR_WIDTH) if total_ns else 0
    width = max(1, round((span.end_ns - span.start_ns) / total_ns * BAR_WIDTH)) if total_ns else 1
    width = min(width, BAR_WIDTH)
    return " " * min(offset, BAR_WIDTH - width) + char * width


def waterfall(out: Output, trace: Trace, logs: list[LogRecord] | None) -> None:
    """The trace's spans with offset, duration and a bar; each span's hot functions; resource figures; log records."""
    ordered = _ordered(trace)
    start_ns = min(s.start_ns for s in trace.spans)
    total_ns = max(s.end_ns for s in trace.spans) - start_ns
    rec = record(trace)
    server = trace.server
    out.line(_headline(trace, rec, server), style="bold")
    rows = [
        [
            "  " * depth + span.name + (" (ERROR)" if span.error else ""),
            _ms((span.start_ns - start_ns) / 1e6),
            _ms(span.duration_ms),
            _bar(span, start_ns, total_ns, out.bar_char),
        ]
        for span, depth in ordered
    ]
    out.table("spans", ["span", "offset ms", "duration ms", "timeline"], rows, right=frozenset({1, 2}))
    for span, _ in ordered:
        if span.hot_functions:
            hot_rows = [
                [str(h.rank or i), h.name, location(h), _ms(h.self_ms), str(h.samples)]
                for i, h in enumerate(span.hot_functions, 1)
            ]
            out.table(
                f"hot functions of {span.name}",
                ["#", "function", "file:line", "self ms", "samples"],
                hot_rows,
                right=frozenset({0, 3, 4}),
            )
    if server is not None:
        out.line(_resources(server))
    if logs is None:
        out.line("log records: this source holds none (read them with --source or --elasticsearch)")
    elif not logs:
        out.line("log records: none for this trace")
    else:
        names = {s.span_id: s.name for s in trace.spans}
        log_rows = [
            [_ms((r.time_ns - start_ns) / 1e6), r.severity, names.get(r.span_id or "", r.span_id or ""), r.body] for r in logs
        ]
        out.table("log records", ["offset ms", "severity", "span", "body"], log_rows, right=frozenset({0}))


def _headline(trace: Trace, rec: RequestRecord | None, server: Span | None) -> str:
    if rec is None or server is None:
        return f"trace {trace.trace_id}: {len(trace.spans)} span(s), no server span"
    parts = [
        f"trace {trace.trace_id}",
        server.name,
        f"status {rec.status}" if rec.status is not None else "",
        f"{rec.latency_ms:.3f} ms",
    ]
    parts.append(f"started {_time(rec.start_time)} UTC")
    if rec.error_type:
        parts.append(f"error.type {rec.error_type}")
    if service := server.resource.get("service.name"):
        parts.append(f"service {service}")
    if instance := server.resource.get(SERVICE_INSTANCE_ID):
        parts.append(f"instance {instance}")
    if rec.model_version:
        parts.append(f"model {rec.model_version}")
    return "  ".join(p for p in parts if p)


def _resources(server: Span) -> str:
    attrs = server.attributes
    figures = [
        (CPU_TIME_MS, "ms"),
        (RSS_MB, "MB"),
        (RSS_DELTA_MB, "MB"),
        (PROFILE_TRIGGER, ""),
        (PROFILE_OBSERVED_MS, "ms"),
    ]
    shown = [f"{key} {attrs[key]}{(' ' + unit) if unit else ''}" for key, unit in figures if key in attrs]
    return "resources: " + ("  ".join(shown) if shown else "not recorded (the request was neither profiled nor slow)")

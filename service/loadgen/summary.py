"""The human-readable end-of-run summary (stdout): totals, latency percentiles, per endpoint, traces."""

from __future__ import annotations

import math

from service.loadgen.report import LoadReport, TraceRef


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def _traces(title: str, refs: list[TraceRef], jaeger_url: str | None, limit: int) -> list[str]:
    if not refs:
        return []
    lines = [title]
    for ref in refs[:limit]:
        if not ref.trace_id:
            trace = "(no traceresponse header)"
        elif jaeger_url:
            trace = f"{jaeger_url.rstrip('/')}/trace/{ref.trace_id}"
        else:
            trace = ref.trace_id
        sampled = "" if not ref.trace_id or ref.sampled else "  (not sampled: not in Jaeger)"
        lines.append(f"  {ref.latency_ms:>10.2f} ms  {ref.status:>13}  {ref.kind:<22} {trace}{sampled}")
    return lines


def format_summary(report: LoadReport, jaeger_url: str | None = None, traces: int = 5) -> str:
    lat = report.latency_ms
    load = f"open loop, {report.rate:g} req/s" if report.mode == "open" else f"closed loop, {report.concurrency} connections"
    error_pct = 100.0 * report.errors / report.requests if report.requests else 0.0
    statuses = " · ".join(f"{status} x {n}" for status, n in report.status_counts.items()) or "-"
    lines = [
        f"scenario {report.scenario}: {load}, {report.url}, seed {report.seed}",
        f"  stopped by {report.stopped_by} after {report.duration_s:.2f} s ({report.backend} client, {report.loop} loop)",
        "",
        (
            f"  requests     {report.requests}  (errors {report.errors} = {error_pct:.1f} %, "
            f"unexpected {report.unexpected}, not sent {report.not_sent})"
        ),
        f"  throughput   {report.throughput_rps:.1f} req/s, {report.rows_per_s:.1f} rows/s scored",
        f"  latency ms   p50 {_ms(lat.p50)} · p95 {_ms(lat.p95)} · p99 {_ms(lat.p99)} · max {_ms(lat.max)}  (mean "
        f"{_ms(lat.mean)})",
        f"  status       {statuses}",
        "",
        f"  {'endpoint':<22} {'requests':>9} {'errors':>7} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}",
    ]
    for kind, summary in report.by_kind.items():
        k = summary.latency_ms
        lines.append(
            f"  {kind:<22} {summary.requests:>9} {summary.errors:>7} {_ms(k.p50):>9} {_ms(k.p95):>9} {_ms(k.p99):>9} "
            f"{_ms(k.max):>9}"
        )
    lines.append("")
    lines += _traces("slowest requests:", report.slowest, jaeger_url, traces)
    lines += _traces(f"failed requests ({report.failures_total}, first shown):", report.failures, jaeger_url, traces)
    if report.error_samples:
        lines.append("error bodies (first of each status):")
        lines += [f"  {status}: {body[:160]}" for status, body in report.error_samples.items()]
    if report.mode == "open":
        lines.append(f"max start delay behind schedule: {report.queue_delay_ms_max:.2f} ms (counted in latency)")
    lines.append(f"loadgen CPU: {report.client_cpu_s:.2f} s ({report.client_cpu_us_per_request:.0f} us/request)")
    if report.server_hint:
        lines.append(f"hint: {report.server_hint}")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)

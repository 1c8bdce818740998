"""``python -m service.traces`` (console script ``service-traces``): why was this request slow?

Reads recorded requests from one source and answers three questions::

    # the embedded default's files (TELEMETRY_DIR, default ./telemetry)
    python -m service.traces slowest --limit 10 --route /predict --since 1h
    python -m service.traces show 4bf92f3577b34da6a3ce929d0e0e4736
    python -m service.traces export --format parquet --out requests.parquet   # needs pip install -e '.[analysis]'

    # the stack: Jaeger's query API, or the Elasticsearch indices the Collector writes
    python -m service.traces --jaeger http://127.0.0.1:16686 slowest
    python -m service.traces --elasticsearch http://127.0.0.1:9200 show <trace id>

Exit status: 0; 2 when a source cannot be read, a trace is unknown or an argument is wrong (one line on
stderr); 3 when the command ran but skipped malformed lines (counted on stderr).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from service.config import Settings, SettingsError
from service.traces import export as exporting
from service.traces.elasticsearch import DEFAULT_LOGS_INDEX, DEFAULT_TRACES_INDEX, ElasticsearchSource
from service.traces.files import FileSource
from service.traces.jaeger import JaegerSource
from service.traces.model import Query, TracesError, TraceSource, normalise_id
from service.traces.records import DEFAULT_TOP, records, slowest
from service.traces.render import Output
from service.traces.views import slowest_table, waterfall

PROG = "python -m service.traces"
DEFAULT_SERVICE = "credit-risk-service"
EXIT_ERROR = 2
EXIT_SKIPPED = 3
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``2h``, ``1h30m``, ``7d`` -> seconds; ``TracesError`` naming the value otherwise."""
    value = text.strip()
    if not value or _DURATION.sub("", value):
        raise TracesError(f"--since {text!r}: use a duration such as 30s, 15m, 2h, 1h30m or 7d")
    return sum(float(n) * _UNIT_S[unit] for n, unit in _DURATION.findall(value))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Slowest requests, one trace's waterfall, and the per-request records as Parquet/CSV.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("::", 1)[1] if __doc__ else None,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--source", metavar="DIR", type=Path, help="the embedded default's directory (default: TELEMETRY_DIR or ./telemetry)"
    )
    source.add_argument("--jaeger", metavar="URL", help="Jaeger query API base URL, e.g. http://127.0.0.1:16686")
    source.add_argument("--elasticsearch", metavar="URL", help="Elasticsearch base URL, e.g. http://127.0.0.1:9200")
    parser.add_argument(
        "--service",
        help=f"service.name to read: Jaeger needs one (default OTEL_SERVICE_NAME or {DEFAULT_SERVICE}); "
        "Elasticsearch reads all unless given",
    )
    parser.add_argument(
        "--traces-index", default=os.environ.get("ES_TRACES_INDEX", DEFAULT_TRACES_INDEX), help="Elasticsearch traces index"
    )
    parser.add_argument(
        "--logs-index", default=os.environ.get("ES_LOGS_INDEX", DEFAULT_LOGS_INDEX), help="Elasticsearch logs index"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout in seconds (default 10)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{slowest,show,export}")

    slow = commands.add_parser("slowest", help="a table of the slowest recorded requests")
    slow.add_argument("--limit", type=int, default=20, help="rows (default 20)")
    _filters(slow)

    show = commands.add_parser("show", help="one trace's waterfall, hot functions, resource figures and log records")
    show.add_argument("trace_id", metavar="TRACE_ID", help="32 hex digits (the traceresponse header's second field)")

    exp = commands.add_parser("export", help="one row per recorded request, as Parquet or CSV")
    exp.add_argument("--format", choices=exporting.FORMATS, default="parquet", help="parquet (needs the analysis extra) or csv")
    exp.add_argument("--out", type=Path, required=True, metavar="FILE", help="output file")
    exp.add_argument("--top", type=int, default=DEFAULT_TOP, help=f"hot functions per row (default {DEFAULT_TOP})")
    _filters(exp)
    return parser


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--route", help="only this route template, e.g. /predict")
    parser.add_argument("--since", metavar="DURATION", help="only requests started this long ago or later, e.g. 15m, 2h, 1d")


def _source(args: argparse.Namespace) -> TraceSource:
    service = args.service or os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE
    if args.jaeger:
        return JaegerSource(args.jaeger, service, args.timeout)
    if args.elasticsearch:
        return ElasticsearchSource(args.elasticsearch, args.traces_index, args.logs_index, args.service, args.timeout)
    if args.source is not None:
        return FileSource(args.source)
    try:
        return FileSource(Settings.from_env().telemetry_dir)
    except SettingsError as exc:
        raise TracesError(str(exc)) from None


def _query(args: argparse.Namespace, slowest_first: bool) -> Query:
    since_ns = None
    if args.since:
        since_ns = int((time.time() - parse_duration(args.since)) * 1e9)
    return Query(since_ns=since_ns, route=args.route, limit=getattr(args, "limit", None), slowest=slowest_first)


def run(args: argparse.Namespace, out: Output) -> list[str]:
    """Carry out one parsed command; returns the source's warnings. Raises ``TracesError`` on bad input."""
    if getattr(args, "limit", 1) < 1 or getattr(args, "top", 1) < 0:
        raise TracesError("--limit must be at least 1 and --top at least 0")
    if args.command == "export" and args.format == "parquet":
        exporting.require_pyarrow()
    source = _source(args)
    if args.command == "slowest":
        query = _query(args, slowest_first=True)
        slowest_table(out, slowest(records(source.requests(query)), args.limit), source.description)
    elif args.command == "show":
        trace_id = normalise_id(args.trace_id, 16)
        if trace_id is None or not re.fullmatch(r"[0-9a-f]{32}", trace_id):
            raise TracesError(f"trace id {args.trace_id[:40]!r}: expected 32 hex digits")
        trace = source.trace(trace_id)
        waterfall(out, trace, source.logs(trace_id))
    else:
        found = records(source.requests(_query(args, slowest_first=False)))
        exporting.write(found, args.out, args.format, args.top)
        print(f"{len(found)} request record(s) from {source.description} -> {args.out} ({args.format})", file=sys.stderr)
    return source.warnings()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m service.traces``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        warnings = run(args, Output())
    except TracesError as exc:
        print(f"service.traces: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # `| head`: the reader left; say nothing more (Python's documented recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    for warning in warnings:
        print(f"service.traces: {warning}", file=sys.stderr)
    return EXIT_SKIPPED if warnings else 0

"""``python -m service.loadgen``: a bounded load test against the prediction service.

Examples::

    python -m service.loadgen --scenario mixed --rate 50 --duration 60      # make simulate-load
    python -m service.loadgen --scenario steady --concurrency 16 --requests 20000 --json-report out.json
    FAULT_SLOW_FEATURE_MS=200 make run   # then: python -m service.loadgen --scenario slow --rate 20

Exit status: 0 after a run (even one full of errors: read the summary), 2 for bad options,
3 when the service is not ready.
"""

from __future__ import annotations

import argparse
import os
import sys

from service.loadgen.config import DEFAULT_URL, MAX_DURATION_S, MAX_REQUESTS, ConfigError, LoadConfig
from service.loadgen.progress import ProgressLine
from service.loadgen.runner import TargetUnavailable, run_load
from service.loadgen.scenarios import SCENARIOS
from service.loadgen.summary import format_summary


def build_parser() -> argparse.ArgumentParser:
    scenarios = "; ".join(f"{s.name}: {s.summary}" for s in SCENARIOS.values())
    parser = argparse.ArgumentParser(
        prog="python -m service.loadgen",
        description="Bounded load test of the prediction service (loopback only unless --allow-remote).",
        epilog=f"Scenarios - {scenarios}. Hard caps: {MAX_DURATION_S:g} s, {MAX_REQUESTS} requests.",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="service base URL (default %(default)s)")
    load = parser.add_mutually_exclusive_group()
    load.add_argument("--concurrency", type=int, help="closed loop: connections sending back to back (default 8)")
    load.add_argument("--rate", type=float, help="open loop: mean requests per second, whatever the answers")
    parser.add_argument("--duration", type=float, dest="duration_s", help="seconds to run (default 10 if no --requests)")
    parser.add_argument("--requests", type=int, help="stop after this many requests")
    parser.add_argument("--scenario", choices=list(SCENARIOS), default="steady")
    parser.add_argument("--json-report", metavar="PATH", help="also write the full report as JSON")
    parser.add_argument("--seed", type=int, default=42, help="seed of the request bodies and mix (default %(default)s)")
    parser.add_argument("--timeout", type=float, dest="timeout_s", default=10.0, help="per-request timeout, s")
    parser.add_argument("--warmup", type=float, dest="warmup_s", default=0.0, help="unrecorded seconds before measuring")
    parser.add_argument("--max-connections", type=int, default=256, help="open loop: most connections in flight")
    parser.add_argument("--burst-phase", type=float, dest="burst_phase_s", default=5.0, help="burst: seconds per phase")
    parser.add_argument("--client", dest="backend", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    parser.add_argument("--wait-ready", type=float, dest="wait_ready_s", default=10.0, help="wait this long for /health/ready")
    parser.add_argument("--no-preflight", action="store_true", help="skip the /health/ready check (non-service targets)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --url")
    parser.add_argument("--jaeger-url", help="print slowest/failed traces as links, e.g. http://127.0.0.1:16686")
    parser.add_argument("--slowest", type=int, dest="slowest_n", default=10, help="slowest requests kept with trace ids")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no summary (use with --json-report)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = vars(args)
    json_report, jaeger_url, quiet = options.pop("json_report"), options.pop("jaeger_url"), options.pop("quiet")
    if options.pop("no_preflight"):
        options["ready_path"] = None
    config = LoadConfig(progress=ProgressLine.wanted(quiet), **options)
    try:
        report = run_load(config, handle_sigint=True)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TargetUnavailable as exc:
        print(f"error: {config.url}: {exc}", file=sys.stderr)
        return 3
    if json_report:
        report.write_json(json_report)
    if not quiet:
        try:
            print(format_summary(report, jaeger_url) + (f"\nJSON report: {json_report}" if json_report else ""), flush=True)
        except BrokenPipeError:  # `| head`: the reader left, which is fine
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m service.drift`` (``make drift-report``): a data-drift report (HTML + JSON) from the live telemetry.

Like the Evidently reports ML teams run by hand, but computed from the ``ml.feature.bucket``
counters the service already exports, against the training reference in the model card:
per feature PSI, reference vs current histograms, a verdict (none / moderate / significant).

Sources (pick one)::

    # the stack: bucket counts over a time range, summed over all workers and replicas
    python -m service.drift --prometheus http://localhost:9090 --start -24h --end now

    # only this run of the service: its job, since it started (e.g. STARTED=$(date +%s) before make run)
    python -m service.drift --prometheus http://127.0.0.1:9090 --job credit-risk-service --start "$STARTED"

    # no Prometheus (embedded default): a worker's /metrics, or saved expositions (summed)
    python -m service.drift --metrics-url http://127.0.0.1:8000/metrics
    python -m service.drift --metrics-file worker1.prom --metrics-file worker2.prom

Writes ``<out>/drift_report.html`` and ``<out>/drift_report.json`` (``--out``, default
``drift-report``). Exit status: 0, or 3 when ``--fail-on`` is given and reached (for CI and cron),
2 when a source cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from service.config import Settings
from service.drift.buckets import DriftReference, DriftReferenceError
from service.drift.html import render
from service.drift.report import SEVERITY, Thresholds, build_report
from service.drift.sources import Fetched, SourceError, from_exposition, from_prometheus, parse_time, read_text
from service.errors import ModelLoadError
from service.pipeline.model import ModelCard


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service.drift",
        description="Data-drift report (PSI per feature) from the service's bucket counters.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Sources (pick one)::", 1)[1].replace("``", "") if __doc__ else None,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prometheus", metavar="URL", help="Prometheus base URL (HTTP API)")
    source.add_argument("--metrics-url", metavar="URL", action="append", help="a /metrics endpoint (repeatable: summed)")
    source.add_argument("--metrics-file", metavar="PATH", action="append", help="a saved exposition (repeatable: summed)")
    parser.add_argument("--start", default="-1h", help="with --prometheus: now, -1h, unix seconds or ISO 8601 (default -1h)")
    parser.add_argument("--end", default="now", help="with --prometheus: as --start (default now)")
    parser.add_argument("--job", help="only this job (service.name), e.g. credit-risk-service")
    parser.add_argument("--card", type=Path, help="model card with the reference (default: the served model's, MODEL_PATH)")
    parser.add_argument("--out", type=Path, default=Path("drift-report"), help="output directory (default drift-report)")
    parser.add_argument("--moderate", type=float, default=Thresholds.moderate, help="PSI above this is moderate (0.1)")
    parser.add_argument("--significant", type=float, default=Thresholds.significant, help="PSI above this is significant (0.2)")
    parser.add_argument(
        "--fail-on", choices=("moderate", "significant"), help="exit 3 when input or prediction drift reaches this"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    return parser


def _fetch(args: argparse.Namespace, reference: DriftReference) -> Fetched:
    if args.prometheus:
        now = time.time()
        end = parse_time(args.end, now)
        start = parse_time(args.start, end)
        return from_prometheus(args.prometheus, start, end, args.job, reference.model_version, args.timeout)
    locations = args.metrics_url or args.metrics_file
    return from_exposition(((loc, read_text(loc, args.timeout)) for loc in locations), args.job)


def _relative_times(argv: list[str]) -> list[str]:
    """``--start -24h``: argparse would take ``-24h`` for an option, so glue it on as ``--start=-24h``."""
    out: list[str] = []
    pending: str | None = None
    for arg in argv:
        if pending is not None:
            out.append(f"{pending}={arg}")
            pending = None
        elif arg in ("--start", "--end"):
            pending = arg
        else:
            out.append(arg)
    return out + ([pending] if pending else [])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(_relative_times(sys.argv[1:] if argv is None else argv))
    card_path = args.card or Settings.from_env().model_card_path
    try:
        reference = DriftReference.from_card(ModelCard.load(card_path).raw)
        fetched = _fetch(args, reference)
    except (SourceError, DriftReferenceError, ModelLoadError) as exc:
        print(f"drift report: {exc}", file=sys.stderr)
        return 2
    thresholds = Thresholds(args.moderate, args.significant)
    report = build_report(
        reference, fetched.counts, fetched.source, thresholds, fetched.model_versions, source_warnings=fetched.warnings
    )
    for warning in report["warnings"]:
        print(f"drift report: warning: {warning}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "drift_report.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "drift_report.html").write_text(render(report))
    summary = report["summary"]
    print(
        f"input drift: {summary['verdict']} ({len(summary['drifted_features'])}/{summary['features']} significant: "
        f"{', '.join(summary['drifted_features']) or 'none'}); prediction drift: {summary['prediction_verdict']} "
        f"(PSI {summary['prediction_psi']}); {summary['rows']:g} predictions -> {args.out}/drift_report.html, .json"
    )
    if args.fail_on:
        worst = max(SEVERITY[summary["verdict"]], SEVERITY[summary["prediction_verdict"]])
        if worst >= SEVERITY[args.fail_on]:
            return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

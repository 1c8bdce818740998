"""``python -m bench [run|rss|onnx|costs|profile|report]``: telemetry overhead benchmarks, written to BENCHMARKS.md.

- ``run`` (default): the overhead table (every configuration, alternating rounds), the in-process
  cost breakdown and the ONNX vs scikit-learn comparison; ``--quick`` for a short smoke run.
- ``rss``: RSS over 100 000 requests at production settings (a few minutes).
- ``onnx``: only the ONNX vs scikit-learn comparison.
- ``costs``: CPU per request of each telemetry piece, in-process without HTTP (where the time goes).
- ``profile CONFIG``: where that configuration's server spends its CPU (py-spy under wrk load).
- ``report``: re-render BENCHMARKS.md from ``bench/results/*.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench import machine, report
from bench.configs import CONFIG_NAMES, select
from bench.wrk import require_wrk

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "BENCHMARKS.md"
SMOKE_RESULTS = Path(tempfile.gettempdir()) / "bench-smoke"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _write(args: argparse.Namespace) -> None:
    output: Path = args.output
    output.write_text(report.render(args.results_dir))
    print(f"wrote {output}")


def cmd_run(args: argparse.Namespace) -> None:
    from bench.overhead import LoadPlan, run_overhead

    require_wrk()
    plan = LoadPlan(
        rounds=args.rounds, duration_s=args.duration, warmup_s=args.warmup, connections=args.connections, threads=args.threads
    )
    if args.quick:
        plan = LoadPlan(rounds=1, duration_s=3, warmup_s=1, connections=args.connections, threads=args.threads)
    configs = select(args.configs.split(",") if args.configs else None)
    described = machine.describe()
    print(f"load average at start: {described['load_at_start']}")
    started = _now()
    samples = run_overhead(configs, plan)
    report.save(
        "overhead",
        {
            "command": " ".join([".venv/bin/python -m bench", shlex.join(sys.argv[1:])]).strip(),
            "started": started,
            "finished": _now(),
            "plan": asdict(plan),
            "machine": described,
            "load_at_end": machine.load_average(),
            "samples": [s.to_dict() for s in samples],
        },
        args.results_dir,
    )
    if not args.skip_onnx:
        cmd_onnx(args, write=False)
    if not args.skip_costs:
        cmd_costs(args, write=False)
    _write(args)


def cmd_onnx(args: argparse.Namespace, write: bool = True) -> None:
    from bench.onnx_vs_sklearn import compare

    print("ONNX vs scikit-learn (retraining the scikit-learn model in-process)...")
    result = compare()
    print(
        f"single row: ONNX {result.onnx_single.median_us:.1f} µs, scikit-learn {result.sklearn_single.median_us:.1f} µs "
        f"({result.single_speedup:.1f}x); {result.batch_rows} rows: {result.batch_speedup:.1f}x"
    )
    report.save("onnx", {"measured_at": _now(), "machine": machine.describe(), **result.to_dict()}, args.results_dir)
    if write:
        _write(args)


def cmd_rss(args: argparse.Namespace) -> None:
    from bench.rss import run_rss

    require_wrk()
    described = machine.describe()
    started = _now()
    result = run_rss(total_requests=args.requests, connections=args.connections)
    print(f"RSS growth after warm-up over {result.requests} requests: {result.growth_mb:+.1f} MB")
    report.save(
        "rss",
        {"measured_at": started, "machine": described, "load_at_end": machine.load_average(), **result.to_dict()},
        args.results_dir,
    )
    _write(args)


def cmd_costs(args: argparse.Namespace, write: bool = True) -> None:
    from bench.costs import VARIANTS, run_costs, run_units

    described = machine.describe()
    started = _now()
    quick = getattr(args, "quick", False)
    rows = getattr(args, "rows", 0)
    variants = getattr(args, "variants", None)
    results = run_costs(
        variants=variants or VARIANTS,
        requests=500 if quick else getattr(args, "requests", 2000),
        repeats=getattr(args, "repeats", 3),
        rounds=1 if quick else args.rounds,
        rows=rows,
    )
    if rows or variants:  # not the one-row table BENCHMARKS.md renders: printed and kept apart
        report.save(f"costs-rows{rows}", {"measured_at": started, "machine": described, "variants": results}, args.results_dir)
        return
    units = run_units()
    report.save(
        "costs",
        {
            "measured_at": started,
            "machine": described,
            "load_at_end": machine.load_average(),
            "variants": results,
            "units": units,
            "units_measured_at": _now(),
        },
        args.results_dir,
    )
    if write:
        _write(args)


def cmd_profile(args: argparse.Namespace) -> None:
    from bench.profile import profile

    require_wrk()
    (config,) = [c for c in select([args.config]) if c.name == args.config]
    print(profile(config, seconds=args.seconds, connections=args.connections, top=args.top, gil=args.gil))


COMMANDS = ("run", "onnx", "rss", "costs", "profile", "report")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--output", type=Path, help="report file (default BENCHMARKS.md; a smoke run's goes to its results dir)")
    common.add_argument("--results-dir", type=Path, help="where the JSON results go (default bench/results)")
    common.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="overhead table + ONNX comparison (default)")
    run.add_argument("--rounds", type=int, default=3)
    run.add_argument("--duration", type=float, default=10.0, help="measured seconds per configuration and round")
    run.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds of load before each measurement")
    run.add_argument("--threads", type=int, default=1, help="wrk threads")
    run.add_argument("--configs", help=f"comma-separated subset of {','.join(CONFIG_NAMES)} (bare always runs)")
    run.add_argument("--quick", action="store_true", help="1 round x 3 s: a smoke run, not for the record")
    run.add_argument("--skip-onnx", action="store_true")
    run.add_argument("--skip-costs", action="store_true", help="skip the in-process cost breakdown")

    sub.add_parser("onnx", parents=[common], help="ONNX stage vs scikit-learn predict_proba only")

    rss = sub.add_parser("rss", parents=[common], help="RSS over many requests at production settings")
    rss.add_argument("--requests", type=int, default=100_000)

    costs = sub.add_parser("costs", parents=[common], help="CPU per request of each telemetry piece, in-process (no HTTP)")
    costs.add_argument("--requests", type=int, default=2000, help="requests per timed block")
    costs.add_argument("--repeats", type=int, default=3, help="timed blocks per process")
    costs.add_argument("--rounds", type=int, default=3, help="processes per variant, alternating")
    costs.add_argument("--rows", type=int, default=0, help="N > 0: N-row batches to /predict/batch (saved as costs-rowsN.json)")
    costs.add_argument(
        "--variants", nargs="+", help="variants, e.g. disabled unsampled unsampled:nodrift,nopred (default: the table's)"
    )

    prof = sub.add_parser("profile", parents=[common], help="py-spy profile of one configuration under load")
    prof.add_argument("config", choices=CONFIG_NAMES)
    prof.add_argument("--seconds", type=float, default=15.0)
    prof.add_argument("--top", type=int, default=30)
    prof.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")

    sub.add_parser("report", parents=[common], help="re-render the report from bench/results/")

    args = parser.parse_args(argv)
    smoke = args.command == "run" and (args.quick or args.configs)
    if args.results_dir is None:
        # A smoke or partial run must not overwrite the recorded results behind BENCHMARKS.md.
        args.results_dir = SMOKE_RESULTS if smoke else report.RESULTS_DIR
    if args.output is None:
        args.output = args.results_dir / "BENCHMARKS.md" if smoke else DEFAULT_OUTPUT
    handlers = {
        "run": cmd_run,
        "onnx": cmd_onnx,
        "rss": cmd_rss,
        "costs": cmd_costs,
        "profile": cmd_profile,
        "report": _write,
    }
    handlers[args.command](args)


if __name__ == "__main__":
    main()

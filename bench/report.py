"""BENCHMARKS.md from the JSON results in ``bench/results/`` (each sub-command refreshes its own file).

Everything in the file is generated except ``bench/ANALYSIS.md`` (written by a person after
profiling), which is included verbatim at the end.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.configs import BenchConfig, all_configs
from bench.stats import MB, Sample, Summary, Target, check_targets, ratio, summarize_all

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ANALYSIS = Path(__file__).resolve().parent / "ANALYSIS.md"
REFERENCE_CPROFILE_CLAIM = "5–10 ms per request"


def load(name: str, results_dir: Path = RESULTS_DIR) -> dict[str, Any] | None:
    path = results_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def save(name: str, data: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return path


def _x(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}×"


def _samples(overhead: dict[str, Any]) -> list[Sample]:
    return [Sample(**raw) for raw in overhead["samples"]]


def summaries_of(overhead: dict[str, Any]) -> dict[str, Summary]:
    return summarize_all(_samples(overhead), [c.name for c in all_configs()])


def _batched(name: str) -> BenchConfig | None:
    """The configuration ``name`` when it serves batches (its own table, against its own baseline)."""
    return next((c for c in all_configs() if c.name == name and c.batch_rows), None)


def overhead_table(summaries: dict[str, Summary]) -> list[str]:
    bare = summaries["bare"]
    rows = [
        "| configuration | req/s | × bare | p50 ms | × bare | p99 ms | × bare | server CPU µs/req | × bare | peak RSS MB | × "
        "bare | spans exported/req | errors | req/s spread |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in summaries.items():
        if _batched(name):
            continue
        rows.append(
            f"| {name} | {s.throughput:.0f} | {_x(ratio(s.throughput, bare.throughput))} "
            f"| {s.p50_us / 1000:.2f} | {_x(ratio(s.p50_us, bare.p50_us))} "
            f"| {s.p99_us / 1000:.2f} | {_x(ratio(s.p99_us, bare.p99_us))} "
            f"| {s.cpu_us_per_request:.0f} | {_x(ratio(s.cpu_us_per_request, bare.cpu_us_per_request))} "
            f"| {s.peak_rss_bytes / MB:.1f} | {_x(ratio(s.peak_rss_bytes, bare.peak_rss_bytes))} "
            f"| {s.spans_per_request:.2f} | {s.errors} | {100 * s.throughput_spread:.0f}% |"
        )
    return rows


def side_measurements(summaries: dict[str, Summary]) -> list[str]:
    out: list[str] = []

    def delta(a: str, b: str) -> float:
        return summaries[a].cpu_us_per_request - summaries[b].cpu_us_per_request

    if {"bare", "bare-threadpool"} <= summaries.keys():
        out.append(
            "- **One-row requests on the event loop** (bare vs bare with `INLINE_SINGLE_ROWS=false`, scored in the thread "
            f"pool): throughput {_x(ratio(summaries['bare'].throughput, summaries['bare-threadpool'].throughput))}, "
            f"{delta('bare', 'bare-threadpool'):+.0f} µs CPU per request ({summaries['bare'].cpu_us_per_request:.0f} vs "
            f"{summaries['bare-threadpool'].cpu_us_per_request:.0f})."
        )
    if {"production", "production-noslow"} <= summaries.keys():
        out.append(
            f"- **Slow-request capture when no request is slow** (production vs production with `PROFILE_SLOW_MS=0`): "
            f"{delta('production', 'production-noslow'):+.0f} µs CPU per request "
            f"({summaries['production'].cpu_us_per_request:.0f} vs {summaries['production-noslow'].cpu_us_per_request:.0f}), "
            f"throughput {_x(ratio(summaries['production'].throughput, summaries['production-noslow'].throughput))}."
        )
    if {"production", "jaeger-remote"} <= summaries.keys():
        out.append(
            f"- **Remote head sampling** (`parentbased_jaeger_remote`, 10% per operation from a sampling endpoint, vs "
            f"production's `parentbased_traceidratio` 0.1): {delta('jaeger-remote', 'production'):+.0f} µs CPU per request "
            f"({summaries['jaeger-remote'].cpu_us_per_request:.0f} vs {summaries['production'].cpu_us_per_request:.0f}), "
            f"throughput {_x(ratio(summaries['jaeger-remote'].throughput, summaries['production'].throughput))}."
        )
    if {"full", "full+profiling"} <= summaries.keys():
        out.append(
            f"- **Profiling every request** (pyinstrument, `PROFILE_SAMPLE_RATE=1`, vs full): "
            f"{delta('full+profiling', 'full'):+.0f} µs CPU per profiled request; throughput "
            f"{_x(ratio(summaries['full+profiling'].throughput, summaries['full'].throughput))} of full."
        )
    if {"reference", "bare"} <= summaries.keys():
        out.append(
            f"- **The reference designs' approach** (cProfile + psutil + pstats top 5 + JSON log around every prediction, "
            f"prometheus_client middleware): {delta('reference', 'bare'):+.0f} µs CPU per request over bare "
            f"(the reference write-up states {REFERENCE_CPROFILE_CLAIM} for cProfile on its heavier model)."
        )
    if {"bare", "bare-slow-sockets"} <= summaries.keys():
        quiet, attacked = summaries["bare"], summaries["bare-slow-sockets"]
        out.append(
            f"- **500 slow-header sockets open** (bare while 500 connections trickle a request head, vs bare): p99 of normal "
            f"requests on connections opened after them {attacked.p99_us / 1000:.2f} vs {quiet.p99_us / 1000:.2f} ms "
            f"({_x(ratio(attacked.p99_us, quiet.p99_us))}; target at most 2×), p50 {_x(ratio(attacked.p50_us, quiet.p50_us))}, "
            f"throughput {_x(ratio(attacked.throughput, quiet.throughput))}, errors {attacked.errors}."
        )
    if {"production", "production-collector-down"} <= summaries.keys():
        up, down = summaries["production"], summaries["production-collector-down"]
        out.append(
            "- **Collector down** (production pointed at a closed port vs at the receiver): p50 "
            f"{_x(ratio(down.p50_us, up.p50_us))}, p99 {_x(ratio(down.p99_us, up.p99_us))}, throughput "
            f"{_x(ratio(down.throughput, up.throughput))}, CPU {delta('production-collector-down', 'production'):+.0f} "
            f"µs/request, errors {down.errors}."
        )
    return out


def batch_table(summaries: dict[str, Summary]) -> list[str]:
    """``/predict/batch`` configurations, each beside its bare baseline: requests and rows per second, CPU per request and row."""
    rows = [
        (
            "| rows per request | configuration | req/s | rows/s | × bare | p50 ms | p99 ms | server CPU µs/req | µs/row "
            "| telemetry CPU over bare µs/req | spans exported/req | errors | req/s spread |"
        ),
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in summaries.items():
        config = _batched(name)
        base = summaries.get(config.baseline) if config else None
        if config is None or base is None:
            continue
        over = "" if name == config.baseline else f"{s.cpu_us_per_request - base.cpu_us_per_request:+.0f}"
        rows.append(
            f"| {config.batch_rows} | {name} | {s.throughput:.0f} | {s.rows_per_second:.0f} "
            f"| {_x(ratio(s.throughput, base.throughput))} | {s.p50_us / 1000:.2f} | {s.p99_us / 1000:.2f} "
            f"| {s.cpu_us_per_request:.0f} | {s.cpu_us_per_request / config.batch_rows:.1f} | {over} "
            f"| {s.spans_per_request:.2f} | {s.errors} | {100 * s.throughput_spread:.0f}% |"
        )
    return rows if len(rows) > 2 else []


def onnx_section(onnx: dict[str, Any]) -> list[str]:
    rows = onnx["batch_rows"]
    return [
        "| rows per call | ONNX stage median µs (p99) | scikit-learn `predict_proba` median µs (p99) | ONNX speed-up |",
        "| ---: | ---: | ---: | ---: |",
        (
            f"| 1 | {onnx['onnx_single']['median_us']:.1f} ({onnx['onnx_single']['p99_us']:.1f}) "
            f"| {onnx['sklearn_single']['median_us']:.1f} ({onnx['sklearn_single']['p99_us']:.1f}) | "
            f"{onnx['single_speedup']:.1f}× |"
        ),
        (
            f"| {rows} | {onnx['onnx_batch']['median_us']:.0f} ({onnx['onnx_batch']['p99_us']:.0f}) "
            f"| {onnx['sklearn_batch']['median_us']:.0f} ({onnx['sklearn_batch']['p99_us']:.0f}) | {onnx['batch_speedup']:.1f}× |"
        ),
        "",
        (
            "Same rows for both (load-generator applicants through the service's feature engineering), "
            f"{onnx['onnx_single']['calls']} single-row calls and {onnx['onnx_batch']['calls']} batch calls each after a "
            f"warm-up; largest |ONNX − scikit-learn| P(default) on the batch: {onnx['max_abs_diff']:.1e}."
        ),
    ]


def rss_section(rss: dict[str, Any]) -> list[str]:
    series = rss["samples"]
    step = max(1, len(series) // 10)
    points = series[::step] + ([series[-1]] if (len(series) - 1) % step else [])
    return [
        (
            f"{rss['requests']} requests at production settings in {rss['seconds']:.0f} s, {rss['errors']} errors. "
            f"RSS when ready {rss['ready_rss'] / MB:.1f} MB; after warm-up {rss['baseline_rss'] / MB:.1f} MB; "
            f"at the end {rss['final_rss'] / MB:.1f} MB; lowest/highest reading after warm-up {rss['min_rss'] / MB:.1f}/"
            f"{rss['max_rss'] / MB:.1f} MB; kernel high-water mark {rss['peak_rss'] / MB:.1f} MB. "
            f"**Growth after warm-up: {rss['growth_mb']:+.1f} MB.** Measured {rss['measured_at']}, load at start "
            f"{rss['machine']['load_at_start']}."
        ),
        "",
        "| seconds | requests so far | RSS MB |",
        "| ---: | ---: | ---: |",
        *[f"| {elapsed:.0f} | {done} | {value / MB:.1f} |" for elapsed, done, value in points],
    ]


COST_STEPS = (
    ("our layer on an unsampled request (sampling decision, context, metric records, `traceresponse`)", "unsampled", "disabled"),
    ("slow-request watchdog (`PROFILE_SLOW_MS=250`), no request slow", "unsampled+watchdog", "unsampled"),
    ("a sampled request on the request path: 5 spans with attributes, log record, queueing", "sampled:drop", "unsampled"),
    ("OTLP protobuf encoding of that request's spans and log record (export thread)", "sampled:encode", "sampled:drop"),
    (
        "of the two above, the per-request log record (stdout line + OTel record + its encoding)",
        "sampled:encode",
        "sampled:encode,nolog",
    ),
    ("pyinstrument profile of the request (`PROFILE_SAMPLE_RATE=1`)", "sampled:encode,prof", "sampled:encode"),
)


def costs_section(costs: dict[str, Any]) -> list[str]:
    by = {v["variant"]: v for v in costs["variants"]}
    rows = [
        "| variant | CPU µs/request (median) | min | of which garbage collector |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| `{v['variant']}` | {v['cpu_us_per_request']:.0f} | {v['min_us']:.0f} | "
            f"{v.get('gc_us_per_request', float('nan')):.0f} |"
            for v in costs["variants"]
        ],
        "",
        "| piece | CPU µs per request it applies to |",
        "| --- | ---: |",
    ]
    for label, a, b in COST_STEPS:
        if a in by and b in by:
            rows.append(f"| {label} | {by[a]['cpu_us_per_request'] - by[b]['cpu_us_per_request']:+.0f} |")
    needed = {"disabled", "unsampled+watchdog", "unsampled", "sampled:encode,nolog", "sampled:encode,prof"}
    if needed <= by.keys():
        c = {k: by[k]["cpu_us_per_request"] for k in needed}
        traced = c["sampled:encode,nolog"]  # REQUEST_LOG=notable: a fast sampled request leaves no record
        production = (
            (c["unsampled+watchdog"] - c["disabled"])
            + 0.1 * (traced - c["unsampled"])
            + 0.01 * (c["sampled:encode,prof"] - traced)  # a profiled request is notable: profile and its record
        )
        rows += [
            "",
            (
                "Production settings from these pieces (every request pays the unsampled path and the watchdog, 10 % the "
                f"sampled path, 1 % the profile and its log record; gRPC sending not included): {production:+.0f} µs per "
                f"request over {c['disabled']:.0f} µs ({100 * production / c['disabled']:+.0f} %); full tracing (no per-request "
                f"record, the `REQUEST_LOG=notable` default): {traced - c['disabled']:+.0f} µs "
                f"({100 * (traced - c['disabled']) / c['disabled']:+.0f} %)."
            ),
        ]
    return [
        (
            f"The real app driven in-process through ASGI, one request at a time, no HTTP server; process CPU time (all threads) "
            f"per request, batch processors flushed inside the timed block; {len(costs['variants'][0]['blocks'])} blocks of "
            f"{costs['variants'][0]['requests_per_block']} requests per variant, variants alternating in separate processes. "
            f"Measured {costs['measured_at']}, load at start {costs['machine']['load_at_start']}."
        ),
        "",
        *rows,
    ]


def targets_table(targets: list[Target]) -> list[str]:
    rows = ["| target | goal | measured | met |", "| --- | --- | --- | --- |"]
    rows += [f"| {t.name} | {t.goal} | {t.measured} | {'met' if t.met else '**not met**'} |" for t in targets]
    return rows


def machine_section(machine: dict[str, Any], load_at_end: str | None) -> list[str]:
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items())
    lines = [
        (
            f"- CPU: {machine['cpu_model']}, {machine['logical_cpus']} logical CPUs ({machine['physical_cores']} cores), "
            f"{machine['memory_gb']} GB RAM, {machine['kernel']}"
        ),
        f"- {machine['python']}; {packages}",
        f"- Load generator: {machine['wrk']}",
        f"- Load average (1, 5, 15 min) at start: {machine['load_at_start']}"
        + (f"; at end: {load_at_end}" if load_at_end else ""),
        (
            "- The machine may be shared (other builds and test suites): the load averages and the req/s spread column "
            "say how quiet it was; CPU µs/request is the figure least disturbed by other processes."
        ),
    ]
    return lines


def render(results_dir: Path = RESULTS_DIR) -> str:
    overhead, onnx, rss = load("overhead", results_dir), load("onnx", results_dir), load("rss", results_dir)
    costs = load("costs", results_dir)
    out = [
        "# Benchmarks",
        "",
        (
            "Generated by `make bench` (`.venv/bin/python -m bench`); do not edit by hand "
            "(the analysis at the end comes from `bench/ANALYSIS.md`)."
        ),
        "",
    ]
    summaries: dict[str, Summary] = summaries_of(overhead) if overhead else {}
    if overhead and "bare" in summaries:
        plan = overhead["plan"]
        out += [
            "## Telemetry overhead against the bare service",
            "",
            (
                f"Measured {overhead['started']} → {overhead['finished']}; command `{overhead['command']}`; "
                f"{plan['rounds']} rounds × {plan['duration_s']:.0f} s per configuration after {plan['warmup_s']:.0f} s warm-up, "
                f"{plan['connections']} connections, closed loop, medians over rounds."
            ),
            "",
            *overhead_table(summaries),
            "",
            *[f"- `{c.name}`: {c.description}." for c in all_configs() if c.name in summaries and not c.batch_rows],
            "",
            "Load generator cost (wrk, same machine), median: "
            + ", ".join(f"{n} {s.client_cpu_us_per_request:.0f}" for n, s in summaries.items())
            + " µs CPU per request. OTLP receiver process (Python gRPC, decodes every export): "
            + ", ".join(
                f"{n} {s.receiver_cpu_us_per_request:.0f}" for n, s in summaries.items() if s.receiver_cpu_us_per_request > 0.5
            )
            + " µs CPU per request. Both share the 2 cores with the server, as a local collector would.",
            "",
            "### Side measurements",
            "",
            *side_measurements(summaries),
            "",
        ]
        batches = batch_table(summaries)
        if batches:
            out += [
                "### Small batches: `POST /predict/batch`",
                "",
                (
                    "Same plan, each batch size against bare serving the same batches (16 different bodies of that many "
                    "load-generator applicants); rows/s is req/s × rows per request, µs/row is server CPU per request / rows."
                ),
                "",
                *batches,
                "",
            ]
    if costs:
        out += ["## Where the CPU goes: telemetry pieces in isolation", "", *costs_section(costs), ""]
    if onnx:
        out += ["## ONNX stage against scikit-learn", "", *onnx_section(onnx), ""]
    out += ["## Memory over 100 000 requests (production settings)", ""]
    out += rss_section(rss) if rss else ["Not measured yet: `.venv/bin/python -m bench rss` (takes a few minutes)."]
    out += [""]
    batch_baselines = {c.name: c.baseline for c in all_configs() if c.batch_rows and c.name != c.baseline}
    targets = check_targets(summaries, onnx["single_speedup"] if onnx else None, batch_baselines)
    if rss:
        targets.append(
            Target("RSS over 100k requests (production)", "< 20 MB growth", f"{rss['growth_mb']:+.1f} MB", rss["growth_mb"] < 20)
        )
    if targets:
        out += ["## Targets", "", "On this 2-core machine, load generator on the same machine.", "", *targets_table(targets), ""]
    out += [
        "## Method",
        "",
        (
            "- One run, one machine, one service code base. Each configuration is a fresh `python -m bench.serve FACTORY` "
            "process (uvicorn, 1 worker, loopback, uvloop + httptools, no access log: the options of `python -m service`), "
            "started, checked ready, warmed up, measured, stopped. Configurations alternate within each round and the order "
            "rotates every round, so slow drifts in machine load hit all of them alike; the table shows per-metric medians over "
            "rounds and the spread (max − min) / median of throughput."
        ),
        (
            "- Load: `wrk` (C, epoll), 1 thread, fixed connections, closed loop, POST /predict with 64 different valid "
            "applicants (the load generator's population) pre-formatted by a Lua script; latency percentiles from wrk's own "
            "histogram. wrk rather than `python -m service.loadgen`: every µs the client spends is taken from the server on 2 "
            "cores, and against the bare server the project's load generator cost ≈ 67 µs CPU per request with its raw-socket "
            "client (≈ 1.6 ms with `--client httpx`) where wrk costs 26–45; wrk's own CPU is measured (kernel rusage) and shown "
            "above."
        ),
        (
            "- Server CPU µs/request: psutil `cpu_times()` (user + system, all threads, so export threads count) of the server "
            "process right before and after the measured window, divided by the requests wrk completed in it. Peak RSS: the "
            "kernel's VmHWM of the server process at the end of its round (start-up and warm-up included)."
        ),
        (
            "- Exports go over OTLP/gRPC to a real receiver in its own process (`bench/receiver.py`, the test suite's "
            "`GrpcReceiver`, decoding every request with opentelemetry-proto and counting spans); spans exported per request "
            "is what it received over the server's life divided by the requests it served, a check that each row really exported "
            "what it claims."
        ),
        (
            "- `contrib` and `fastapi-native` get our own layer disabled by injecting `Telemetry.disabled()` (what "
            "`OTEL_SDK_DISABLED=true` gives) rather than through the variable, which the SDK also reads and which would turn "
            "their global providers into no-ops."
        ),
        "",
    ]
    if overhead:
        out += ["## Machine", "", *machine_section(overhead["machine"], overhead.get("load_at_end")), ""]
    if ANALYSIS.exists() and results_dir == RESULTS_DIR:  # the analysis is about the recorded results only
        out += [ANALYSIS.read_text().rstrip(), ""]
    return "\n".join(out)

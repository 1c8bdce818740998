"""``python -m bench costs``: CPU per request of each telemetry piece, without HTTP and without load noise.

The real app (``create_app``) is driven in-process through ASGI, one request at a time, and the
process CPU time (all threads, so batch processors and encoders count) is divided by the requests;
batch processors are flushed before the clock stops. Each variant adds one piece to the previous
one, so the differences say where the time goes:

======================  =====================================================================
``disabled``            our layer off (``Telemetry.disabled()``): the pipeline and FastAPI alone
``unsampled``           our layer on, sampler always-off: what 90 % of production requests pay
``unsampled+watchdog``  plus the slow-request watchdog (``PROFILE_SLOW_MS=250``)
``sampled:drop``        sampled, spans and log records made and queued, exporter drops them
``sampled:encode``      plus OTLP protobuf encoding of every batch (what the gRPC exporter does first)
``sampled:encode,nolog``  same without the per-request log record (``REQUEST_LOG=off``)
``sampled:encode,prof`` plus pyinstrument on every request
======================  =====================================================================

Two options switch one piece of the prediction path off in any variant, to time it inside the
real request (``unsampled:nodrift``, ``unsampled:nodrift,nopred``): ``nodrift`` drops drift
counting (``ml.feature.bucket``), ``nopred`` the prediction metrics (``ml.predictions``,
``ml.prediction.score``, ``ml.batch.size``). ``--rows N`` posts ``N``-row batches to
``/predict/batch`` instead of one applicant to ``/predict``.

Each variant runs in its own process (logging and providers are per process). CPU time is not
wall time, so other processes on the machine disturb it far less than the HTTP table.
"""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.asgi import request, start_lifespan
from bench.processes import REPO, clean_env

VARIANTS = (
    "disabled",
    "unsampled",
    "unsampled+watchdog",
    "sampled:drop",
    "sampled:encode",
    "sampled:encode,nolog",
    "sampled:encode,prof",
)


# --- worker side (runs in a child process) -----------------------------------------------------


def _exporters(encode: bool) -> tuple[Any, Any]:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from otel.compat import LogRecordExporter, LogRecordExportResult, encode_logs
    from otel.span_encoder import SpanEncoder

    encoder = SpanEncoder()  # what the OTLP/gRPC span exporter uses

    class Spans(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            if encode:
                encoder.encode(spans)
            return SpanExportResult.SUCCESS

    class Logs(LogRecordExporter):
        def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
            if encode:
                encode_logs(batch).SerializeToString()
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    return Spans(), Logs()


def _build(variant: str) -> tuple[Any, Any]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

    from otel.compat import BatchLogRecordProcessor
    from otel.setup import Telemetry, TelemetryOverrides
    from service.app import create_app
    from service.config import Settings

    options = set(variant.partition(":")[2].split(","))
    settings = Settings.from_env(
        {},
        profile_sample_rate=1.0 if "prof" in options else 0.0,
        profile_slow_ms=250.0 if variant == "unsampled+watchdog" else 0.0,
        request_log="off" if "nolog" in options else "sampled",
    )
    if variant == "disabled":
        return create_app(settings, telemetry=Telemetry.disabled()), None
    spans, logs = _exporters(encode="encode" in options)
    span_processor, log_processor = BatchSpanProcessor(spans), BatchLogRecordProcessor(logs)
    overrides = TelemetryOverrides(
        span_processors=[span_processor],
        log_processors=[log_processor],
        sampler=ALWAYS_ON if variant.startswith("sampled") else ALWAYS_OFF,
    )
    app = create_app(settings, telemetry_overrides=overrides)

    def flush() -> None:
        span_processor.force_flush()
        log_processor.force_flush()

    return app, flush


def measure_variant(variant: str, requests: int = 2000, warmup: int = 300, repeats: int = 5, rows: int = 0) -> dict[str, Any]:
    """CPU µs per request of ``variant`` (median over ``repeats`` blocks of ``requests``); ``rows`` > 0: batches."""
    from bench.wrk import load_target

    app, flush = _build(variant)
    path, bodies = load_target(rows)
    options = set(variant.partition(":")[2].split(","))
    collector = _GcClock()

    async def run() -> list[float]:
        inbox, task = await start_lifespan(app)
        _switch_off(app, options)
        for i in range(warmup):
            await request(app, bodies[i % len(bodies)], path)
        if flush:
            flush()
        per_request = []
        collector.reset()
        for _ in range(repeats):
            start = time.process_time()
            for i in range(requests):
                status = await request(app, bodies[i % len(bodies)], path)
                if status != 200:
                    raise RuntimeError(f"{variant}: status {status}")
            if flush:
                flush()
            per_request.append((time.process_time() - start) * 1e6 / requests)
        await inbox.put({"type": "lifespan.shutdown"})
        await task
        return per_request

    gc.callbacks.append(collector)
    try:
        blocks = asyncio.run(run())
    finally:
        gc.callbacks.remove(collector)
    return {
        "variant": variant,
        "rows": rows,
        "cpu_us_per_request": statistics.median(blocks),
        "blocks": blocks,
        "requests": requests * repeats,
        "gc_us_per_request": collector.seconds * 1e6 / (requests * repeats),
    }


def _switch_off(app: Any, options: set[str]) -> None:
    """Drop the prediction path's metric pieces named in ``options`` (``nodrift``, ``nopred``) from the started app."""
    pipeline = app.state.service.pipeline
    if "nodrift" in options:
        pipeline.drift = None
    if "nopred" in options:
        pipeline.instruments = None


class _GcClock:
    """CPU time spent in the cyclic garbage collector (more live objects per request, more collections)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def reset(self) -> None:
        self.seconds = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start


# --- orchestrator side -------------------------------------------------------------------------


def run_costs(
    variants: Sequence[str] = VARIANTS, requests: int = 2000, repeats: int = 3, rounds: int = 3, rows: int = 0
) -> list[dict[str, Any]]:
    """Every variant in its own process, ``rounds`` times in rotating order; medians over all blocks (``rows``: see above)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-costs-"))
    blocks: dict[str, list[float]] = {v: [] for v in variants}
    gc_us: dict[str, list[float]] = {v: [] for v in variants}
    for round_index in range(rounds):
        order = list(variants[round_index % len(variants) :]) + list(variants[: round_index % len(variants)])
        for variant in order:
            result = _run_child(workdir, variant, requests, repeats, rows)
            measured = result["blocks"]
            blocks[variant].extend(measured)
            gc_us[variant].append(result["gc_us_per_request"])
            print(f"round {round_index + 1}/{rounds} {variant:<24} {statistics.median(measured):7.1f} µs CPU/request", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)  # kept for inspection only when a variant failed
    return [
        {
            "variant": v,
            "cpu_us_per_request": statistics.median(b),
            "min_us": min(b),
            "gc_us_per_request": statistics.median(gc_us[v]),
            "blocks": b,
            "requests_per_block": requests,
            "rows": rows,
        }
        for v, b in blocks.items()
    ]


def _run_child(workdir: Path, variant: str, requests: int, repeats: int, rows: int = 0) -> Any:
    """One ``python -m bench.costs VARIANT ...`` process; its result JSON, or its log's tail on failure."""
    result_path, log_path = workdir / "result.json", workdir / f"{variant.replace(':', '_')}.log"
    with log_path.open("wb") as log:  # the request log goes to a file, as the servers' stdout does
        code = subprocess.call(
            [sys.executable, "-m", "bench.costs", variant, str(requests), str(repeats), str(result_path), str(rows)],
            cwd=REPO,
            env=clean_env({"TELEMETRY_DIR": str(workdir / "telemetry")}),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if code != 0 or not result_path.exists():
        raise RuntimeError(f"{variant} failed ({code}):\n{log_path.read_text(errors='replace')[-3000:]}")
    result = json.loads(result_path.read_text())
    result_path.unlink()
    return result


def run_units() -> dict[str, float]:
    """``measure_units`` in its own process."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-units-"))
    units: dict[str, float] = _run_child(workdir, "units", 0, 0)
    shutil.rmtree(workdir, ignore_errors=True)
    print("unit costs: " + ", ".join(f"{k} {v:.1f}" for k, v in units.items()))
    return units


def measure_units(requests: int = 200) -> dict[str, float]:
    """CPU µs per item of the SDK operations a sampled request triggers, on this app's real spans and records."""
    import logging
    import timeit

    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    from bench.wrk import sample_bodies
    from otel.compat import InMemoryLogRecordExporter, SimpleLogRecordProcessor, encode_logs
    from otel.setup import TelemetryOverrides
    from otel.span_encoder import SpanEncoder
    from service.app import create_app
    from service.config import Settings

    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    overrides = TelemetryOverrides(
        span_processors=[SimpleSpanProcessor(spans)], log_processors=[SimpleLogRecordProcessor(logs)], sampler=ALWAYS_ON
    )
    app = create_app(
        Settings.from_env({}, profile_sample_rate=0.0, profile_slow_ms=0.0, request_log="sampled"), telemetry_overrides=overrides
    )
    bodies = sample_bodies()

    async def serve() -> None:
        inbox, task = await start_lifespan(app)
        for i in range(requests):
            await request(app, bodies[i % len(bodies)])
        await inbox.put({"type": "lifespan.shutdown"})
        await task

    asyncio.run(serve())
    finished = list(spans.get_finished_spans())
    records = [r for r in logs.get_finished_logs() if (r.log_record.attributes or {}).get("latency_ms") is not None]
    request_logger = logging.getLogger("otel_ml.request")
    request_logger.disabled = True  # time span creation alone below

    def per_item(fn: Any, items: int, number: int = 20) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5, timer=time.process_time)) / number / items * 1e6

    telemetry = app.state.service.telemetry
    sdk_tracer, fast_tracer = telemetry.tracer_provider.get_tracer("otel-ml"), telemetry.tracer
    stage_attributes = {"ml.stage": "x", "ml.model.name": "m", "ml.model.version": "1", "ml.batch.size": 1}
    parent = sdk_tracer.start_span("server")
    parent_context = trace.set_span_in_context(parent)

    def sdk_span() -> None:
        sdk_tracer.start_span("stage", context=parent_context, attributes=stage_attributes).end()

    def fast_span() -> None:
        fast_tracer.start_child("stage", parent.get_span_context(), stage_attributes).end()

    resource, encoder = finished[0].resource, SpanEncoder()
    return {
        "spans_per_request": len(finished) / requests,
        "sdk_otlp_encode_per_span_us": per_item(lambda: encode_spans(finished).SerializeToString(), len(finished)),
        "otel_ml_otlp_encode_per_span_us": per_item(lambda: encoder.encode(finished), len(finished)),
        "otlp_encode_per_log_record_us": per_item(lambda: encode_logs(records).SerializeToString(), len(records)),
        "resource_hash_us": per_item(lambda: hash(resource), 1, number=2000),
        "sdk_span_start_end_4_attributes_us": per_item(sdk_span, 1, number=2000),
        "otel_ml_span_start_end_4_attributes_us": per_item(fast_span, 1, number=2000),
    }


def main() -> None:
    variant, requests, repeats, out, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]), int(sys.argv[5])
    result = measure_units() if variant == "units" else measure_variant(variant, requests=requests, repeats=repeats, rows=rows)
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()

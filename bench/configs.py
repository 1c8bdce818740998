"""The configurations compared, each an app factory plus the environment its server process gets.

Every server is the same uvicorn setup (``bench.serve``: 1 worker, loopback, uvloop/httptools, no
access log), so the only difference between two rows is what the configuration names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SERVICE_FACTORY = "service.app:app_factory"
CONTRIB_FACTORY = "bench.apps.contrib:app_factory"
NATIVE_FACTORY = "bench.apps.fastapi_native:app_factory"
REFERENCE_FACTORY = "bench.apps.reference:app_factory"

PROFILING_OFF = {"PROFILE_SAMPLE_RATE": "0", "PROFILE_SLOW_MS": "0"}
PRODUCTION_SAMPLING = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
MAKE_RUN_PROFILE_SAMPLE_RATE = "0.01"  # the Makefile's LOCAL_PROFILE_SAMPLE_RATE (tests/bench/test_configs.py keeps them equal)


@dataclass(frozen=True)
class BenchConfig:
    name: str
    description: str
    factory: str = SERVICE_FACTORY
    env: dict[str, str] = field(default_factory=dict)
    collector: str | None = None  # "up": OTLP/gRPC to the receiver; "down": to a closed port
    slow_sockets: int = 0  # connections trickling a request head (bench.slow_sockets) during the load
    batch_rows: int = 0  # 0: POST /predict, one applicant per request; N: POST /predict/batch with N applicants
    baseline: str = "bare"  # the configuration this one is compared with (same load)
    sampling_server: bool = False  # OTEL_TRACES_SAMPLER_ARG points at a harness strategies endpoint (bench.strategies)


def otlp_env(endpoint: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}


def batch_configs(rows: int) -> list[BenchConfig]:
    """Bare and production serving ``rows``-row batches to ``/predict/batch``, compared with each other."""
    bare = f"bare-batch{rows}"
    return [
        BenchConfig(
            bare,
            f"bare serving {rows}-row batches (POST /predict/batch)",
            env={"OTEL_SDK_DISABLED": "true", **PROFILING_OFF},
            batch_rows=rows,
            baseline=bare,
        ),
        BenchConfig(
            f"production-batch{rows}",
            f"production serving {rows}-row batches (POST /predict/batch)",
            env={**PRODUCTION_SAMPLING, "PROFILE_SAMPLE_RATE": "0.1"},
            collector="up",
            batch_rows=rows,
            baseline=bare,
        ),
    ]


def all_configs() -> list[BenchConfig]:
    """Main table first, then the side measurements (thread pool, slow capture, slow sockets, collector down, small batches)."""
    return [
        BenchConfig(
            "bare", "OTEL_SDK_DISABLED=true, no profiling: the physical limit", env={"OTEL_SDK_DISABLED": "true", **PROFILING_OFF}
        ),
        BenchConfig(
            "production",
            "head sampling 10%, profiling 10% of sampled, slow capture at 250 ms, OTLP/gRPC to a local receiver",
            env={**PRODUCTION_SAMPLING, "PROFILE_SAMPLE_RATE": "0.1"},
            collector="up",
        ),
        BenchConfig(
            "jaeger-remote",
            "production with parentbased_jaeger_remote: 10% per operation, served by a Jaeger-compatible endpoint",
            env={"OTEL_TRACES_SAMPLER": "parentbased_jaeger_remote", "PROFILE_SAMPLE_RATE": "0.1"},
            collector="up",
            sampling_server=True,
        ),
        BenchConfig(
            "full",
            "100% traced and exported (traces, metrics; log records for 5xx and slow requests), profiling off",
            env=dict(PROFILING_OFF),
            collector="up",
        ),
        BenchConfig(
            "full+profiling",
            "100% traced and exported, pyinstrument on every request",
            env={"PROFILE_SAMPLE_RATE": "1", "PROFILE_SLOW_MS": "0"},
            collector="up",
        ),
        BenchConfig(
            "contrib",
            "opentelemetry-instrumentation-fastapi defaults, 100%, global SDK providers, batch OTLP/gRPC; our telemetry off",
            factory=CONTRIB_FACTORY,
            env=dict(PROFILING_OFF),
            collector="up",
        ),
        BenchConfig(
            "fastapi-native",
            "FastAPI's native telemetry defaults, 100%, global SDK providers, batch OTLP/gRPC; our telemetry off",
            factory=NATIVE_FACTORY,
            env=dict(PROFILING_OFF),
            collector="up",
        ),
        BenchConfig(
            "reference",
            "reference designs: cProfile + psutil + top-5 JSON log around every prediction, prometheus_client middleware",
            factory=REFERENCE_FACTORY,
            env={"OTEL_SDK_DISABLED": "true", **PROFILING_OFF},
        ),
        BenchConfig(
            "bare-threadpool",
            "bare with INLINE_SINGLE_ROWS=false: one-row requests scored in the thread pool (the design until 2026-11-23)",
            env={"OTEL_SDK_DISABLED": "true", **PROFILING_OFF, "INLINE_SINGLE_ROWS": "false"},
        ),
        BenchConfig(
            "production-noslow",
            "production with slow capture off (PROFILE_SLOW_MS=0): the cost of the slow-request watchdog",
            env={**PRODUCTION_SAMPLING, "PROFILE_SAMPLE_RATE": "0.1", "PROFILE_SLOW_MS": "0"},
            collector="up",
        ),
        BenchConfig(
            "bare-slow-sockets",
            "bare while 500 other connections trickle a request head, one byte every 0.5 s, reconnecting when closed",
            env={"OTEL_SDK_DISABLED": "true", **PROFILING_OFF},
            slow_sockets=500,
        ),
        BenchConfig(
            "production-collector-down",
            "production pointed at a closed port (connection refused)",
            env={**PRODUCTION_SAMPLING, "PROFILE_SAMPLE_RATE": "0.1"},
            collector="down",
        ),
        BenchConfig(
            "make-run",
            "`make run` defaults: the embedded default (traces and logs as OTLP/JSON lines on disk), 100% traced, "
            "1% profiled (the Makefile's local rate), slow capture at 250 ms",
            env={"PROFILE_SAMPLE_RATE": MAKE_RUN_PROFILE_SAMPLE_RATE},
        ),
        BenchConfig(
            "embedded-production",
            "the embedded default (OTLP/JSON files) at production sampling: head sampling 10%, profiling 10% of sampled",
            env={**PRODUCTION_SAMPLING, "PROFILE_SAMPLE_RATE": "0.1"},
        ),
        *batch_configs(10),
        *batch_configs(100),
    ]


CONFIG_NAMES = tuple(c.name for c in all_configs())


def select(names: list[str] | None) -> list[BenchConfig]:
    """The named configurations (all when ``names`` is empty); bare and each one's baseline are always included."""
    configs = all_configs()
    if not names:
        return configs
    unknown = sorted(set(names) - set(CONFIG_NAMES))
    if unknown:
        raise SystemExit(f"unknown configuration(s) {unknown}; choose from {list(CONFIG_NAMES)}")
    wanted = {"bare", *names, *(c.baseline for c in configs if c.name in names)}
    return [c for c in configs if c.name in wanted]

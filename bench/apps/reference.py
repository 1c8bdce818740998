"""Configuration ``reference``: the bare service instrumented the way the reference designs do it.

``../shared/reference/``: a ``PerformanceMonitor`` runs cProfile around every prediction, reads
psutil memory and CPU before and after, ranks the top 5 functions with ``pstats`` and logs the
record as JSON; a ``prometheus_client`` middleware (``BaseHTTPMiddleware``) counts requests, times
them in a histogram and tracks in-progress requests. Our own telemetry is off
(``OTEL_SDK_DISABLED=true``), so this row is "bare + their instrumentation".

The registry is served at ``/reference/metrics`` so the harness can check the counts are real.
"""

from __future__ import annotations

import cProfile
import json
import logging
import pstats
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psutil
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.middleware.base import BaseHTTPMiddleware

from service.app import create_app
from service.config import Settings
from service.pipeline.endpoints import Endpoint

log = logging.getLogger("reference.performance")
TOP_N = 5


class PerformanceMonitor:
    """cProfile + psutil around one call, logged as the reference's ``performance_metrics`` record."""

    def __init__(self) -> None:
        self.process = psutil.Process()

    def measure(self, run: Callable[[], bytes]) -> bytes:
        transaction_id = str(uuid.uuid4())
        memory_before = self.process.memory_info().rss
        cpu_before = time.process_time()
        start = time.perf_counter()
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return run()
        finally:
            profiler.disable()
            inference_ms = (time.perf_counter() - start) * 1000
            cpu_ms = (time.process_time() - cpu_before) * 1000
            memory_after = self.process.memory_info().rss
            stats = pstats.Stats(profiler)
            ranked = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)[:TOP_N]  # type: ignore[attr-defined]  # not in typeshed
            top = [
                {
                    "function": func[2],
                    "file": func[0],
                    "line": func[1],
                    "cumulative_time_ms": round(ct * 1000, 3),
                    "total_time_ms": round(tt * 1000, 3),
                    "calls": nc,
                }
                for func, (cc, nc, tt, ct, _callers) in ranked
            ]
            record = {
                "performance_metrics": {
                    "transaction_id": transaction_id,
                    "inference_time_ms": round(inference_ms, 3),
                    "cpu_time_ms": round(cpu_ms, 3),
                    "memory_mb": round(memory_after / 1_048_576, 2),
                    "memory_delta_mb": round((memory_after - memory_before) / 1_048_576, 3),
                    "function_calls": stats.total_calls,  # type: ignore[attr-defined]  # not in typeshed
                    "top_functions": top,
                }
            }
            log.info(json.dumps(record))


def profile_every_prediction(app: FastAPI, monitor: PerformanceMonitor) -> None:
    """Once the lifespan has built the pipeline, route each of its runs through ``monitor``."""
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[None]:
        async with started(app_):
            pipeline = app.state.service.pipeline
            run = pipeline.run

            def profiled_run(endpoint: Endpoint, rows: Sequence[Mapping[str, Any]]) -> bytes:
                return monitor.measure(lambda: run(endpoint, rows))

            pipeline.run = profiled_run
            yield

    app.router.lifespan_context = lifespan


class PrometheusMiddleware(BaseHTTPMiddleware):
    """The reference's request metrics: count, duration histogram, in progress."""

    def __init__(self, app: Any, registry: CollectorRegistry, service_name: str) -> None:
        super().__init__(app)
        self.service_name = service_name
        self.requests = Counter(
            "fastapi_requests_total", "Total requests", ["method", "endpoint", "status_code", "service"], registry=registry
        )
        self.duration = Histogram(
            "fastapi_request_duration_seconds", "Request duration", ["method", "endpoint", "service"], registry=registry
        )
        self.in_progress = Gauge(
            "fastapi_requests_in_progress", "Requests in progress", ["method", "endpoint", "service"], registry=registry
        )

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        method, endpoint = request.method, request.url.path
        self.in_progress.labels(method, endpoint, self.service_name).inc()
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            self.duration.labels(method, endpoint, self.service_name).observe(time.perf_counter() - start)
            self.requests.labels(method, endpoint, str(status), self.service_name).inc()
            self.in_progress.labels(method, endpoint, self.service_name).dec()


def app_factory(settings: Settings | None = None) -> FastAPI:
    app = create_app(settings or Settings.from_env())
    profile_every_prediction(app, PerformanceMonitor())
    registry = CollectorRegistry()
    app.add_middleware(PrometheusMiddleware, registry=registry, service_name="credit-risk-service")

    @app.get("/reference/metrics", include_in_schema=False)
    async def reference_metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app

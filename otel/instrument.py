"""``instrument(app, telemetry, ...)``: everything an app needs from ``otel``, wired in the right order.

It adds the telemetry middleware (``otel.middleware``), installs the profiler (``otel.profiling``) and wraps
the app's lifespan so that logging is configured before the app's own startup, the first metrics are
pushed after it and the event-loop lag is watched while it serves, and at shutdown the log bridge is
removed before the providers flush and stop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from opentelemetry.util.types import AttributeValue

from otel.event_loop_lag import EventLoopLag
from otel.logs import configure_logging, remove_otel_bridge
from otel.middleware import DEFAULT_CLIENT_VALUE_MAX_CHARS, instrument_app
from otel.profiling import ProfilerConfig, install_profiler
from otel.request import StageRecorder
from otel.setup import Telemetry, export_timeout_s

log = logging.getLogger("otel")


def instrument(
    app: Any,
    telemetry: Telemetry,
    *,
    excluded_paths: Iterable[str] = (),
    span_attributes: Mapping[str, AttributeValue] | None = None,
    profiler: ProfilerConfig | None = None,
    log_level: str = "INFO",
    log_format: str = "text",
    request_log: str = "notable",
    client_value_max_chars: int = DEFAULT_CLIENT_VALUE_MAX_CHARS,
    loop_lag_interval_s: float | None = 0.1,
    shutdown: bool = True,
) -> StageRecorder | None:
    """Instrument the FastAPI (or Starlette) ``app`` with ``telemetry`` (from ``setup_telemetry``).

    Per request: the HTTP server span, ``stage()`` spans and durations, ``traceresponse``, the HTTP
    metrics and a request log record (``request_log``: ``notable``, ``sampled``, ``all`` or ``off``;
    notable requests are 5xx, profiled, or slower than ``profiler.slow_ms``). Paths in ``excluded_paths``
    are not traced; ``span_attributes`` go on every stage span and request record; client-chosen values
    are cut to ``client_value_max_chars`` on spans. ``profiler`` (default ``ProfilerConfig()``) adds hot
    functions to sampled and slow requests; pass ``ProfilerConfig(sample_rate=0, slow_ms=0)`` for none.

    Logging (stdout at ``log_level`` as ``text`` or ``json``, plus the OTel log bridge) is configured
    when the app starts. While it serves, a task sleeping ``loop_lag_interval_s`` records how late it wakes
    (histogram ``asyncio.event_loop.lag``; None: not watched). With ``shutdown`` (the default) the app's shutdown also flushes
    and stops
    ``telemetry``; pass False when the caller owns its lifetime (tests sharing one ``Telemetry``).
    Returns the ``StageRecorder`` (hooks and observers register on it), or None when telemetry is disabled.
    """
    profiler = profiler if profiler is not None else ProfilerConfig()
    recorder = instrument_app(
        app,
        telemetry,
        excluded_paths=excluded_paths,
        span_attributes=span_attributes,
        request_log=request_log,
        slow_ms=profiler.slow_ms,
        client_value_max_chars=client_value_max_chars,
    )
    install_profiler(recorder, profiler)
    router = app.router
    lag_interval = loop_lag_interval_s if telemetry.enabled else None
    router.lifespan_context = _lifespan(router.lifespan_context, telemetry, log_level, log_format, lag_interval, shutdown)
    return recorder


def _lifespan(
    inner: Callable[[Any], AbstractAsyncContextManager[Any]],
    telemetry: Telemetry,
    level: str,
    fmt: str,
    lag_interval_s: float | None,
    shutdown: bool,
) -> Callable[[Any], AbstractAsyncContextManager[Any]]:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        configure_logging(telemetry, level, fmt)
        async with inner(app) as state:
            telemetry.push_first_metrics()  # what the app's startup recorded, exported before the first interval
            lag = EventLoopLag(telemetry.meter, lag_interval_s) if lag_interval_s else None
            if lag is not None:
                lag.start()
            try:
                yield state
            finally:
                if lag is not None:
                    await lag.stop()
        if shutdown:
            remove_otel_bridge()  # late records would loop back into a provider shutting down
            if not telemetry.shutdown(export_timeout_s() + 1.0):
                log.warning("telemetry did not flush before the shutdown deadline; unsent data was dropped")

    return lifespan

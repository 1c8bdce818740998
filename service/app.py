"""``create_app(settings)`` builds the service; the lifespan loads and warms the model.

Nothing heavy happens at import time. Telemetry is created per process inside ``create_app``
(so each uvicorn worker gets its own providers and ``service.instance.id``), unless a test
injects its own.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from otel import ProfilerConfig, Telemetry, TelemetryOverrides, instrument, setup_telemetry
from otel.attributes import SERVICE_VERSION
from otel.instruments import ProcessInstruments
from service import __version__
from service.api.auth import ApiKeyGuard
from service.api.routes import router
from service.api.schemas import EXAMPLE_APPLICATION, batch_adapter, row_adapter
from service.config import Settings
from service.drift.buckets import DriftReferenceError
from service.drift.recorder import DriftRecorder, create_recorder
from service.errors import InvalidRequest, ServiceError
from service.pipeline.features import build_features
from service.pipeline.model import ModelCard, OnnxModel
from service.pipeline.runner import Pipeline
from service.state import ServiceState
from service.telemetry import ML_FAULT_INJECTION, ML_FAULT_SETTING, ML_MODEL_NAME, ML_MODEL_VERSION, MLInstruments

SERVICE_NAME = "credit-risk-service"
UNTRACED_PATHS = ("/health/live", "/health/ready", "/metrics")
log = logging.getLogger("service")


def create_app(
    settings: Settings | None = None,
    *,
    telemetry: Telemetry | None = None,
    telemetry_overrides: TelemetryOverrides | None = None,
) -> FastAPI:
    settings = settings or Settings.from_env()
    card = ModelCard.load(settings.model_card_path)
    owns_telemetry = telemetry is None
    if telemetry is None:
        telemetry = setup_telemetry(
            _resource_attributes(settings, card),
            default_service_name=SERVICE_NAME,
            telemetry_dir=settings.telemetry_dir,
            file_max_bytes=settings.telemetry_file_max_bytes,
            file_backups=settings.telemetry_file_backups,
            overrides=telemetry_overrides,
        )
    untraced = frozenset(() if settings.trace_health_endpoints else UNTRACED_PATHS)
    state = ServiceState(settings, card, telemetry, api_keys=ApiKeyGuard(settings.api_key_list, telemetry.fast_metrics))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # otel.instrument wraps this: logging is configured before it runs, the first metrics pushed
        # after its startup (drift counters at 0, ml_model_loaded 1), telemetry shut down after its end.
        if settings.faults_enabled:
            faults = " ".join(f"{name}={value:g}" for name, value in settings.fault_settings().items())
            log.warning("fault injection is ON: %s", faults)
        model = await run_in_threadpool(_load_and_warm, settings)
        state.pipeline = Pipeline(model, settings, state.instruments, drift=drift)
        if state.instruments is not None:
            state.instruments.model_loaded = 1
        log.info("model %s %s ready; telemetry: %s", card.name, card.version, telemetry.describe())
        yield
        # ml_model_loaded stays 1: the process is going away, not unloading. A 0 in its final
        # export would be held by the collector (metric_expiration) and page ModelNotLoaded on
        # every normal stop; a dead process is ServiceDown's to report.
        state.pipeline = None

    app = FastAPI(
        title="Credit-risk prediction service",
        version=__version__,
        lifespan=lifespan,  # no max_body_size: the scoring routes enforce MAX_BODY_BYTES (service/api/routes.py)
        telemetry=telemetry.fastapi_config(),
    )
    app.state.service = state
    app.include_router(router)
    app.add_exception_handler(ServiceError, _service_error)
    drift: DriftRecorder | None = None
    if telemetry.fast_metrics is not None:
        state.instruments = MLInstruments(telemetry.meter, telemetry.fast_metrics)
        ProcessInstruments(telemetry.meter)
        try:
            drift = create_recorder(card.raw, telemetry.fast_metrics)
        except DriftReferenceError as exc:
            log.warning("drift metrics off: %s", exc)
    instrument(
        app,
        telemetry,
        excluded_paths=untraced,
        span_attributes={ML_MODEL_NAME: card.name, ML_MODEL_VERSION: card.version},
        profiler=ProfilerConfig(
            sample_rate=settings.profile_sample_rate,
            interval_ms=settings.profile_interval_ms,
            top_n=settings.profile_top_n,
            slow_ms=settings.profile_slow_ms,
            application_packages=("service",),
        ),
        log_level=settings.log_level,
        log_format=settings.log_format,
        loop_lag_interval_s=settings.loop_lag_interval_ms / 1000,
        request_log=settings.request_log,
        client_value_max_chars=settings.client_attribute_max_chars,
        shutdown=owns_telemetry,
    )
    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]  # FastAPI's documented override
    return app


def app_factory() -> FastAPI:
    """Entry point for uvicorn's ``factory=True``: called once in every worker process.

    ``gc.freeze()`` moves everything imported and built so far out of the collector's reach: full
    collections then no longer walk the whole framework and model on every cycle, a cost that grows
    with every object a request allocates (BENCHMARKS.md). Only here, in a real server process; a test
    building many apps would keep all of them alive.
    """
    app = create_app()
    gc.freeze()
    return app


def _resource_attributes(settings: Settings, card: ModelCard) -> dict[str, Any]:
    attributes: dict[str, Any] = {SERVICE_VERSION: __version__, ML_MODEL_NAME: card.name, ML_MODEL_VERSION: card.version}
    if settings.faults_enabled:  # the settings too, so a load generator can tell what the service injects
        attributes[ML_FAULT_INJECTION] = True
        for name, value in settings.fault_settings().items():
            attributes[ML_FAULT_SETTING.format(name.lower().removeprefix("fault_"))] = value
    return attributes


def _load_and_warm(settings: Settings) -> OnnxModel:
    if settings.fault_slow_load_ms > 0:
        # A model that takes long to load: not ready, ml_model_loaded 0, telemetry still exported.
        time.sleep(settings.fault_slow_load_ms / 1000)
    model = OnnxModel.load(settings.model_path, settings.onnx_intra_op_threads, settings.onnx_inter_op_threads)
    model.warm_up(build_features([dict(EXAMPLE_APPLICATION)]))
    return model


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidRequest):
        return JSONResponse({"detail": exc.errors}, status_code=exc.status_code)
    assert isinstance(exc, ServiceError)
    return JSONResponse({"detail": str(exc), "error_type": exc.error_type}, status_code=exc.status_code)


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """FastAPI's document plus the request schemas, which routes declare by reference only."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for adapter in (row_adapter(), batch_adapter(settings.max_batch_size)):
            document = adapter.json_schema(ref_template="#/components/schemas/{model}")
            components.update(document.pop("$defs", {}))
            components[document["title"]] = document
        app.openapi_schema = schema
    return app.openapi_schema

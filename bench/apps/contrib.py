"""Configuration ``contrib``: the service with ``opentelemetry-instrumentation-fastapi`` at its defaults.

Our own telemetry layer is off. Not through ``OTEL_SDK_DISABLED=true`` in the environment: the SDK
reads that too and would turn the global providers the instrumentation needs into no-ops. The
factory injects ``Telemetry.disabled()``, which is exactly what ``setup_telemetry`` returns under
``OTEL_SDK_DISABLED=true``, so the service itself runs as in the bare configuration.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from bench.apps.providers import install_global_providers
from otel.setup import Telemetry
from service.app import create_app
from service.config import Settings


def app_factory() -> FastAPI:
    install_global_providers("credit-risk-service-contrib")
    app = create_app(Settings.from_env(), telemetry=Telemetry.disabled())
    FastAPIInstrumentor.instrument_app(app)
    return app

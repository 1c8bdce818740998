"""Configuration ``fastapi-native``: the service with FastAPI's own OpenTelemetry telemetry at its defaults.

``service.app`` passes ``Telemetry.fastapi_config()`` (everything off) to ``FastAPI(telemetry=...)``;
here that one call returns ``{}`` while the app is built, so FastAPI keeps its defaults (tracing,
metrics, logs, operation spans) on the global providers. Our own layer is off, as in ``contrib``.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from fastapi import FastAPI

from bench.apps.providers import install_global_providers
from otel.setup import Telemetry
from service.app import create_app
from service.config import Settings


def _fastapi_defaults() -> dict[str, Any]:
    return {}


def app_factory() -> FastAPI:
    install_global_providers("credit-risk-service-fastapi-native")
    with patch.object(Telemetry, "fastapi_config", staticmethod(_fastapi_defaults)):
        return create_app(Settings.from_env(), telemetry=Telemetry.disabled())

"""What one process holds while serving: settings, model card, telemetry and (once warm) the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from otel import StageRecorder, Telemetry
from service.api.auth import ApiKeyGuard
from service.config import Settings
from service.errors import ServiceError
from service.pipeline.model import ModelCard
from service.pipeline.runner import Pipeline
from service.telemetry import MLInstruments


class ModelNotReady(ServiceError):
    status_code = 503
    error_type = "model_not_ready"


@dataclass
class ServiceState:
    settings: Settings
    card: ModelCard
    telemetry: Telemetry
    instruments: MLInstruments | None = None
    pipeline: Pipeline | None = None
    recorder: StageRecorder | None = None
    api_keys: ApiKeyGuard = field(default_factory=lambda: ApiKeyGuard((), None))

    def require_pipeline(self) -> Pipeline:
        if self.pipeline is None:
            raise ModelNotReady("model is still loading")
        return self.pipeline

"""What one process holds while serving: settings, model card, telemetry and (once warm) the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from otel import Telemetry
from service.api.auth import ApiKeyGuard
from service.api.validation import RequestValidator
from service.config import Settings
from service.errors import ModelNotReady
from service.pipeline.model import ModelCard
from service.pipeline.runner import Pipeline
from service.telemetry import MLInstruments


@dataclass
class ServiceState:
    settings: Settings
    card: ModelCard
    telemetry: Telemetry
    instruments: MLInstruments | None = None
    pipeline: Pipeline | None = None
    api_keys: ApiKeyGuard = field(default_factory=lambda: ApiKeyGuard((), None))
    validator: RequestValidator = field(init=False)

    def __post_init__(self) -> None:
        self.validator = RequestValidator(self.settings.max_batch_size, self.settings.record_feature_values)

    def require_pipeline(self) -> Pipeline:
        """The warmed-up pipeline; raises ``ModelNotReady`` (503) while the model is still loading."""
        if self.pipeline is None:
            raise ModelNotReady("model is still loading")
        return self.pipeline

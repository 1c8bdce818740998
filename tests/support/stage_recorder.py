"""The ``StageRecorder`` of a built app: where tests register request hooks and stage observers, as an app would."""

from __future__ import annotations

from typing import Any

from otel.middleware import TelemetryMiddleware
from otel.stages import StageRecorder


def stage_recorder(app: Any) -> StageRecorder | None:
    """The recorder ``instrument_app`` handed the app's ``TelemetryMiddleware``; None when telemetry added none.

    Read from Starlette's public ``app.user_middleware`` list, so the service keeps no test-only reference to it.
    """
    recorders = [m.kwargs["recorder"] for m in app.user_middleware if m.cls is TelemetryMiddleware]
    assert len(recorders) <= 1, "one TelemetryMiddleware per app"
    return recorders[0] if recorders else None

"""Real telemetry files: the service's embedded default, run in-process, answering real requests.

One package-scoped directory is written once: four fast requests all profiled (CPU and memory figures),
one batch, one rejected body, then three requests made slow by ``FAULT_SLOW_FEATURE_MS`` (caught by the
slow trigger), with files small enough to rotate.
Tests copy it before changing anything.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.schemas import EXAMPLE_APPLICATION
from service.app import create_app
from service.config import Settings

SLOW_MS = 120
SLOW_FUNCTION = "service.pipeline.faults.slow_feature_fault"
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")


@dataclass
class Recorded:
    """The directory and what was sent: trace ids by kind of request."""

    directory: Path
    slow: list[str] = field(default_factory=list)
    profiled: list[str] = field(default_factory=list)
    batch: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[str]:
        return self.slow + self.profiled + self.batch + self.rejected

    def copy(self, target: Path) -> Path:
        """A private copy of the directory for a test that edits files."""
        shutil.copytree(self.directory, target)
        return target


def _trace_id(response: Any) -> str:
    return str(response.headers["traceresponse"].split("-")[1])


def _serve(directory: Path, extra: dict[str, str]) -> TestClient:
    env = {"TELEMETRY_DIR": str(directory), "TELEMETRY_FILE_MAX_BYTES": "30000", "TELEMETRY_FILE_BACKUPS": "5", **extra}
    return TestClient(create_app(Settings.from_env(env)))


@pytest.fixture(scope="package")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    directory = tmp_path_factory.mktemp("telemetry")
    out = Recorded(directory)
    with pytest.MonkeyPatch.context() as patch:
        for name in _ENDPOINT_VARS:
            patch.delenv(name, raising=False)
        patch.setenv("OTEL_TRACES_SAMPLER", "always_on")
        patch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "5")  # several lines per file, so files rotate
        with _serve(directory, {"PROFILE_SAMPLE_RATE": "1", "PROFILE_SLOW_MS": "0"}) as client:
            out.profiled = [_trace_id(client.post("/predict", json=EXAMPLE_APPLICATION)) for _ in range(4)]
            out.batch = [_trace_id(client.post("/predict/batch", json={"instances": [EXAMPLE_APPLICATION] * 3}))]
            out.rejected = [_trace_id(client.post("/predict", json={"age": "old"}))]
        # Not the process's first requests: the slow-request watchdog can miss the very first one.
        slow = {"FAULT_SLOW_FEATURE_MS": str(SLOW_MS), "PROFILE_SLOW_MS": "40", "PROFILE_SAMPLE_RATE": "0"}
        with _serve(directory, slow) as client:
            out.slow = [_trace_id(client.post("/predict", json=EXAMPLE_APPLICATION)) for _ in range(3)]
    yield out

"""A scenario's hint states what the service really injects, read from its resource on /metrics."""

from __future__ import annotations

from pathlib import Path

from service.loadgen import LoadConfig, run_load
from service.loadgen.scenarios import SCENARIOS
from service.loadgen.server_settings import read_faults
from tests.loadgen.test_e2e import start_service


def _slow_hint(url: str) -> str:
    report = run_load(LoadConfig(url=url, scenario="slow", concurrency=1, requests=3, duration_s=30))
    return report.server_hint


def test_the_slow_hint_names_the_fault_the_service_already_runs_with(tmp_path: Path) -> None:
    service = start_service(tmp_path, FAULT_SLOW_FEATURE_MS="300")
    try:
        assert read_faults(service.url) == {
            "FAULT_SLOW_FEATURE_MS": 300.0,
            "FAULT_ERROR_RATE": 0.0,
            "FAULT_BLOCK_LOOP_MS": 0.0,
            "FAULT_SLOW_LOAD_MS": 0.0,
        }
        hint = _slow_hint(service.url)
    finally:
        service.stop()
    assert hint == "the service runs with FAULT_SLOW_FEATURE_MS=300 (inject slow feature engineering)"


def test_without_the_fault_the_hint_suggests_it(tmp_path: Path) -> None:
    service = start_service(tmp_path)
    try:
        hint = _slow_hint(service.url)
    finally:
        service.stop()
    assert hint == "start the service with FAULT_SLOW_FEATURE_MS=200 to inject slow feature engineering"


def test_unreadable_settings_are_said_so() -> None:
    fault = SCENARIOS["errors"].fault
    assert fault is not None
    assert read_faults("http://127.0.0.1:9") is None  # discard port: nothing listens
    assert fault.text(None).endswith("(its settings could not be read from /metrics)")
    assert fault.text({"FAULT_ERROR_RATE": 0.05}) == "the service runs with FAULT_ERROR_RATE=0.05 (get 5xx as well)"

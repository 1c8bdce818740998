"""Fault injection: off by default, loud when on, and doing exactly what its settings say."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from service.config import Settings
from tests.conftest import build_client
from tests.support.net import free_port, serve
from tests.support.otlp_receiver import HttpReceiver


def test_no_fault_means_no_warning_and_no_resource_mark(example: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    client, captured = build_client()
    with caplog.at_level(logging.WARNING), client:
        assert client.post("/predict", json=example).status_code == 200
    assert not [r for r in caplog.records if "fault injection" in r.getMessage()]
    assert "ml.fault_injection" not in captured.span("POST /predict").resource.attributes


@pytest.mark.parametrize(
    "env",
    [{"FAULT_SLOW_FEATURE_MS": "5"}, {"FAULT_ERROR_RATE": "0.5"}, {"FAULT_SLOW_LOAD_MS": "1"}, {"FAULT_BLOCK_LOOP_MS": "1"}],
)
def test_any_fault_warns_at_startup_and_marks_the_resource(
    env: dict[str, str], example: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    client, captured = build_client(Settings.from_env(env))
    with caplog.at_level(logging.WARNING), client:
        client.post("/predict", json=example)
    (warning,) = [r for r in caplog.records if "fault injection is ON" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert captured.span("POST /predict").resource.attributes["ml.fault_injection"] is True


def test_the_error_rate_fails_about_that_share_of_inference_calls(example: dict[str, Any]) -> None:
    client, captured = build_client(Settings.from_env({"FAULT_ERROR_RATE": "0.5"}))
    with client:
        statuses = [client.post("/predict", json=example).status_code for _ in range(200)]
    failed = statuses.count(500)
    assert set(statuses) == {200, 500}
    assert 60 <= failed <= 140, failed  # binomial(200, 0.5): outside this range with p < 1e-8
    failing = [
        s for s in captured.finished_spans() if s.name == "onnx_inference" and s.attributes.get("error.type") == "injected_fault"
    ]
    assert len(failing) == failed


def test_the_slow_feature_fault_costs_the_configured_time_in_feature_engineering(example: dict[str, Any]) -> None:
    client, captured = build_client(Settings.from_env({"FAULT_SLOW_FEATURE_MS": "40"}))
    with client:
        assert client.post("/predict", json=example).status_code == 200
    stage = captured.span("feature_engineering")
    assert (stage.end_time - stage.start_time) / 1e6 >= 40


def _gauge(points: list[Any]) -> list[int]:
    return [int(p.value) for p in points]


def test_a_slow_model_load_leaves_the_service_unready_with_the_model_not_loaded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The delay is the lifespan's; the test holds it open (no race with a wall clock) and checks its length.
    release, delays = threading.Event(), list[float]()

    def held_sleep(seconds: float) -> None:
        delays.append(seconds)
        release.wait(60)

    monkeypatch.setattr("service.app.time", SimpleNamespace(sleep=held_sleep))
    client, captured = build_client(Settings.from_env({"FAULT_SLOW_LOAD_MS": "2500"}))
    starting = threading.Thread(target=client.__enter__, name="lifespan-startup")
    with caplog.at_level(logging.WARNING):
        starting.start()
        try:
            assert _wait(lambda: delays, 30), "the lifespan never reached the model load"
            ready = client.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["status"] == "loading"
            assert _gauge(captured.metric_points("ml.model.loaded")) == [0]
            assert starting.is_alive(), "startup finished while the load was still held"
        finally:
            release.set()
            starting.join(60)
    try:
        assert delays == [2.5]
        assert client.get("/health/ready").status_code == 200
        assert _gauge(captured.metric_points("ml.model.loaded")) == [1]
        assert [r for r in caplog.records if "FAULT_SLOW_LOAD_MS=2500" in r.getMessage()]
    finally:
        client.__exit__(None, None, None)


def test_a_slow_model_load_exports_model_not_loaded_from_the_real_process(tmp_path: Path) -> None:
    """The periodic metric reader's own thread exports while the lifespan is still loading the model."""
    receiver = HttpReceiver().start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FAULT_"))}
    env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        "FAULT_SLOW_LOAD_MS": "600000",  # never finishes within the test
        "TELEMETRY_DIR": str(tmp_path),
    }
    process = serve(port, env)
    try:
        assert receiver.received.wait_for(lambda: bool(receiver.received.metric("ml.model.loaded")), timeout=60), (
            "no ml.model.loaded export during the slow load"
        )
        values = {p.as_int for m in receiver.received.metric("ml.model.loaded") for p in m.gauge.data_points}
        assert values == {0}
        with receiver.received.lock:
            resources = [rm.resource for req in receiver.received.metrics for rm in req.resource_metrics]
        marks = {a.value.bool_value for r in resources for a in r.attributes if a.key == "ml.fault_injection"}
        assert marks == {True}
        # uvicorn answers only once the lifespan startup is over: the probe is refused (or 503), never ready.
        try:
            status: int | None = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code
        except httpx.TransportError:
            status = None
        assert status in (None, 503)
        assert process.poll() is None, "the process must still be loading"
    finally:
        process.kill()  # SIGTERM would wait for the (10 min) startup to finish
        process.wait(30)
        receiver.stop()


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_block_loop_fault_stalls_the_event_loop_inside_predict_and_the_lag_histogram_shows_it(
    example: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    client, captured = build_client(Settings.from_env({"FAULT_BLOCK_LOOP_MS": "300", "LOOP_LAG_INTERVAL_MS": "10"}))
    with caplog.at_level(logging.WARNING), client:
        assert client.post("/predict/batch", json={"instances": [example]}).status_code == 200  # only /predict blocks
        calm = max((p.max for p in captured.metric_points("asyncio.event_loop.lag")), default=0.0)
        assert client.post("/predict", json=example).status_code == 200
        time.sleep(0.05)  # let the lag task wake up after the block and record it
        (lag,) = captured.metric_points("asyncio.event_loop.lag")
    assert calm < 0.3 and lag.max >= 0.25  # the wake-up came at least the blocked time late
    assert captured.span("POST /predict").resource.attributes["ml.fault.block_loop_ms"] == 300.0
    assert [r for r in caplog.records if "FAULT_BLOCK_LOOP_MS=300" in r.getMessage()]

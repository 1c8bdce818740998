"""The real process: startup failures are one clear line; SIGTERM exits in bounded time, still reporting its model loaded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from service.api.schemas import EXAMPLE_APPLICATION
from tests.support.net import ROOT, free_port, serve, wait_service_ready
from tests.support.otlp_receiver import GrpcReceiver, HttpReceiver


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return serve(port, {**os.environ, **env}, stderr=subprocess.PIPE)


def test_missing_model_exits_with_one_line_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env={**os.environ, "MODEL_PATH": str(missing)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.decode().strip().splitlines()
    assert (len(lines) == 1 and str(missing.with_name("model_card.json")) in lines[0]) or str(missing) in lines[0]


def test_corrupt_model_exits_with_one_line_naming_the_path(tmp_path: Path) -> None:
    model = tmp_path / "credit_risk.onnx"
    model.write_bytes(b"definitely not onnx")
    (tmp_path / "model_card.json").write_text((ROOT / "service/model/model_card.json").read_text())
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=ROOT,
        env={**os.environ, "MODEL_PATH": str(model)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and str(model) in lines[0]


def test_sigterm_exits_within_export_timeout_plus_5s_when_the_collector_hangs(tmp_path: Path) -> None:
    receiver = GrpcReceiver().start()
    receiver.hang.event.clear()  # accepts connections, never answers
    port = free_port()
    process = _serve(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2000",
            "OTEL_TRACES_SAMPLER": "always_on",
            "TELEMETRY_DIR": str(tmp_path),
        },
        port,
    )
    try:
        wait_service_ready(port)
        for _ in range(20):
            assert httpx.post(f"http://127.0.0.1:{port}/predict", json=EXAMPLE_APPLICATION).status_code == 200
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        elapsed = time.monotonic() - started
        output = process.stdout.read().decode() if process.stdout else ""
        assert process.returncode in (0, -signal.SIGTERM), "uvicorn re-raises the signal after a clean shutdown"
        assert "Application shutdown complete" in output
        assert elapsed < 2.0 + 5.0, f"shutdown took {elapsed:.1f}s"
    finally:
        process.kill()
        receiver.stop()


def test_a_normal_stop_keeps_reporting_the_model_loaded(tmp_path: Path) -> None:
    """The final export says 1: the collector holds it for metric_expiration, and a 0 would page ModelNotLoaded."""
    receiver = HttpReceiver().start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FAULT_"))}
    process = serve(
        port,
        {
            **env,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRIC_EXPORT_INTERVAL": "60000",  # so the final value comes from the shutdown flush
            "TELEMETRY_DIR": str(tmp_path),
        },
    )
    try:
        wait_service_ready(port)
        exported_before = len(receiver.received.metric("ml.model.loaded"))
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.returncode in (0, -signal.SIGTERM)
        assert receiver.received.wait_for(
            lambda: len(receiver.received.metric("ml.model.loaded")) > exported_before, timeout=10
        ), "the shutdown flush exported no ml.model.loaded"
        last = receiver.received.metric("ml.model.loaded")[-1]
        assert [p.as_int for p in last.gauge.data_points] == [1]
    finally:
        process.kill()
        receiver.stop()

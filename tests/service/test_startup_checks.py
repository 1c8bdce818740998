"""Startup refuses what it cannot use (flags like their variables, the sampler) and says what it runs with."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from service.__main__ import settings_from_args
from service.config import SettingsError
from tests.support.net import ROOT, free_port, serve, wait_service_ready
from tests.support.otlp_receiver import HttpReceiver


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--port", "99999"], "--port: PORT must be 0..65535"),
        (["--port", "-1"], "--port: PORT must be 0..65535"),
        (["--port", "http"], "--port: PORT='http' is not a valid int"),
        (["--workers", "0"], "--workers: WORKERS must be >= 1"),
    ],
)
def test_a_flag_is_refused_exactly_like_its_variable(argv: list[str], named: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings_from_args(argv, {})
    assert str(refused.value).startswith(named)


def test_a_flag_wins_over_its_variable() -> None:
    settings = settings_from_args(["--port", "8123", "--host", "0.0.0.0"], {"PORT": "9000", "WORKERS": "3"})
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 8123, 3)


def _run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m service`` that is expected to refuse (a server that starts instead runs into the timeout)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    command = [sys.executable, "-m", "service", *argv]
    return subprocess.run(command, cwd=ROOT, env={**clean, **env}, capture_output=True, timeout=30, check=False)


def test_an_out_of_range_port_flag_refuses_startup_like_port() -> None:
    by_flag, by_variable = _run({}, "--port", "99999"), _run({"PORT": "99999"})
    assert by_flag.returncode == by_variable.returncode == 2
    assert by_flag.stderr.decode().strip() == "error: --port: PORT must be 0..65535"
    assert by_variable.stderr.decode().strip() == "error: PORT must be 0..65535"


def test_a_mistyped_sampler_refuses_startup_with_one_line() -> None:
    result = _run({"OTEL_TRACES_SAMPLER": "parentbased_traceidration", "OTEL_TRACES_SAMPLER_ARG": "0.1"})
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "OTEL_TRACES_SAMPLER='parentbased_traceidration'" in lines[0] and "parentbased_traceidratio" in lines[0]


def test_an_out_of_range_sampler_argument_refuses_startup() -> None:
    result = _run({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "10"})
    assert result.returncode == 2
    assert "OTEL_TRACES_SAMPLER_ARG='10'" in result.stderr.decode()


def test_an_unusable_jaeger_remote_argument_refuses_startup_naming_the_key() -> None:
    env = {"OTEL_TRACES_SAMPLER": "parentbased_jaeger_remote", "OTEL_TRACES_SAMPLER_ARG": "endpoint=jaeger:5778"}
    result = _run(env)
    assert result.returncode == 2
    (line,) = result.stderr.decode().strip().splitlines()
    assert "OTEL_TRACES_SAMPLER_ARG" in line and "endpoint='jaeger:5778'" in line


def otlp_http_env(receiver: HttpReceiver, telemetry_dir: Path, **settings: str) -> dict[str, str]:
    """This environment without OTEL_*/FAULT_* settings, exporting OTLP/HTTP to ``receiver``, plus ``settings``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FAULT_"))}
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    return {**clean, **otlp, "TELEMETRY_DIR": str(telemetry_dir), **settings}


def test_the_startup_line_names_the_endpoints_and_the_effective_sampler(tmp_path: Path) -> None:
    receiver = HttpReceiver().start()
    port = free_port()
    env = otlp_http_env(receiver, tmp_path, OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0.1")
    process = serve(port, env)
    try:
        wait_service_ready(port)
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    finally:
        process.kill()
        receiver.stop()
    line = next(line for line in output.splitlines() if "ready; telemetry" in line)
    base = receiver.endpoint.rstrip("/")
    assert f"traces otlp/http {base}/v1/traces" in line
    assert f"metrics otlp/http+prometheus {base}/v1/metrics" in line
    assert f"logs otlp/http {base}/v1/logs" in line
    assert line.endswith("sampler parentbased_traceidratio (rate 0.1)")

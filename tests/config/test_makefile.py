"""The make targets a newcomer runs: quiet, stopping without a make error, installing only what they need."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from tests.service.test_process import ROOT
from tests.support.net import free_port, wait_service_ready

VENV = Path(sys.executable).parents[1]


def _make_env() -> dict[str, str]:
    """This environment without an outer make's variables (under `make test`, they make make print its directory)."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}


def _dry_run(target: str) -> str:
    return subprocess.run(
        ["make", "-n", target, "VENV=/nonexistent-venv"], cwd=ROOT, env=_make_env(), capture_output=True, text=True, check=True
    ).stdout


def test_make_stack_installs_no_python_packages() -> None:
    assert _dry_run("stack").strip().splitlines() == ["bash scripts/stack.sh up"]


def test_editable_installs_leave_out_setuptools_notice_box() -> None:
    lines = _dry_run("dev").splitlines() + _dry_run("install").splitlines()
    installs = [line for line in lines if " install " in line and " -e " in line]
    assert installs and all(line.startswith('PYTHONWARNINGS="ignore:Editable installation"') for line in installs)


def test_stopping_make_run_with_sigterm_is_not_a_make_error(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in _make_env().items() if not k.startswith(("OTEL_", "FAULT_"))}
    make = subprocess.Popen(
        ["make", "-o", "install", "run", f"VENV={VENV}"],  # -o install: use this venv as it is
        cwd=ROOT,
        env={**env, "PORT": str(port), "TELEMETRY_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_service_ready(port)
        (service,) = psutil.Process(make.pid).children(recursive=True)[-1:]
        service.send_signal(signal.SIGTERM)  # what `kill`, a supervisor or a timeout sends
        _, err = make.communicate(timeout=30)
    finally:
        make.kill()
    assert make.returncode == 0
    assert b"Error" not in err, err.decode()[-500:]


def _default_signals() -> None:
    """Ctrl-C and SIGTERM as a terminal leaves them, even when this test runs where they are ignored (a background job)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _start(target: str, tmp_path: Path, **extra: str) -> tuple[subprocess.Popen[bytes], int]:
    """``make <target>`` in its own process group with Ctrl-C and SIGTERM at their defaults, as in a terminal."""
    port = free_port()
    env = {k: v for k, v in _make_env().items() if not k.startswith(("OTEL_", "FAULT_"))}
    make = subprocess.Popen(
        ["make", "-o", "install", target, f"VENV={VENV}"],  # -o install: use this venv as it is
        cwd=ROOT,
        env={**env, "PORT": str(port), "TELEMETRY_DIR": str(tmp_path), **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=_default_signals,  # noqa: PLW1509 (it only resets two signal dispositions before exec)
    )
    return make, port


def _nowhere() -> str:
    """An OTLP endpoint nobody listens on: a test's service must not export into a stack someone else runs."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("target", ["run", "run-otlp"])
def test_ctrl_c_on_make_run_prints_no_make_error(target: str, tmp_path: Path) -> None:
    make, port = _start(target, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=_nowhere())
    try:
        wait_service_ready(port)
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group, make included
        out, err = make.communicate(timeout=30)
    finally:
        make.kill()
    assert b"Finished server process" in out + err, "the service shut down cleanly"
    assert b"make: ***" not in err, err.decode()[-500:]


def test_make_run_otlp_exports_over_otlp_at_composes_metric_interval(tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    interval = compose["services"]["service"]["environment"]["OTEL_METRIC_EXPORT_INTERVAL"]
    endpoint = _nowhere()  # set, so it must win over the Makefile's default
    make, port = _start("run-otlp", tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    try:
        wait_service_ready(port)
        (service,) = psutil.Process(make.pid).children(recursive=True)[-1:]
        environ = service.environ()
        service.send_signal(signal.SIGTERM)
        out, err = make.communicate(timeout=30)
    finally:
        make.kill()
    assert environ.get("OTEL_METRIC_EXPORT_INTERVAL") == interval
    assert f"traces otlp/http {endpoint}/v1/traces" in (out + err).decode()
    # Unset, the endpoint is the local stack's Collector (`make stack`), over OTLP/HTTP.
    makefile = (ROOT / "Makefile").read_text()
    assert "run-otlp: export OTEL_EXPORTER_OTLP_ENDPOINT ?= http://127.0.0.1:4318\n" in makefile

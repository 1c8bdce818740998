"""Locate the tools that own each config format; a missing tool fails with the command that installs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "scripts/check_config.sh install"


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(f"promtool not found (Debian package `prometheus`): run `{INSTALL}`")
    return path


@pytest.fixture(scope="session")
def compose() -> str:
    """A Docker Compose v2+ CLI: $COMPOSE_BIN, a docker-compose v2+ on PATH, or the cached build."""
    found = subprocess.run(["bash", str(ROOT / "scripts/check_config.sh"), "compose-path"], capture_output=True, text=True)
    if found.returncode != 0 or not found.stdout.strip():
        pytest.fail(f"no Docker Compose v2+ CLI found: run `{INSTALL}` (builds it from its Go module)")
    return found.stdout.strip()


@pytest.fixture(scope="session")
def promtool3() -> str:
    """promtool of the Prometheus version docker-compose.yml runs: $PROMTOOL3_BIN or the cached build."""
    found = subprocess.run(["bash", str(ROOT / "scripts/check_config.sh"), "promtool3-path"], capture_output=True, text=True)
    if found.returncode != 0 or not found.stdout.strip():
        pytest.fail(f"no Prometheus 3 promtool found: run `{INSTALL}` (builds it from its Go module)")
    return found.stdout.strip()

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


def _cached_build(command: str, missing: str) -> str:
    """The path ``scripts/check_config.sh <command>`` prints, or a failure naming the install step."""
    found = subprocess.run(["bash", str(ROOT / "scripts/check_config.sh"), command], capture_output=True, text=True, check=False)
    if found.returncode != 0 or not found.stdout.strip():
        pytest.fail(f"{missing}: run `{INSTALL}` (builds it from its Go module)")
    return found.stdout.strip()


@pytest.fixture(scope="session")
def compose() -> str:
    """A Docker Compose v2+ CLI: $COMPOSE_BIN, a docker-compose v2+ on PATH, or the cached build."""
    return _cached_build("compose-path", "no Docker Compose v2+ CLI found")


@pytest.fixture(scope="session")
def promtool3() -> str:
    """promtool of the Prometheus version docker-compose.yml runs: $PROMTOOL3_BIN or the cached build."""
    return _cached_build("promtool3-path", "no Prometheus 3 promtool found")

"""The collector settings the assertions depend on, read from collector-config/otel-collector.yaml.

Values there are ``${env:VAR:-default}``; like the collector, an environment variable wins over the
default (scripts/stack.sh passes its environment on to the collector).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CONFIG = Path(__file__).resolve().parents[2] / "collector-config" / "otel-collector.yaml"
_ENV_REF = re.compile(r"^\$\{env:(?P<name>\w+)(?::-(?P<default>[^}]*))?\}$")
_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>ms|s|m)$")


def resolve(value: Any) -> str:
    """A config value with an ``${env:...}`` reference replaced as the collector would."""
    m = _ENV_REF.match(str(value))
    if m is None:
        return str(value)
    return os.environ.get(m["name"], m["default"] or "")


def seconds(duration: str) -> float:
    m = _DURATION.match(duration)
    assert m, f"unsupported duration {duration!r}"
    return float(m["n"]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m["unit"]]


@dataclass(frozen=True)
class CollectorSettings:
    sampling_percent: float  # the probabilistic "baseline" policy
    latency_threshold_ms: float  # the "slow" policy
    decision_wait_s: float
    logs_index: str
    traces_index: str


def collector_settings(path: Path = CONFIG) -> CollectorSettings:
    config = yaml.safe_load(path.read_text())
    tail = config["processors"]["tail_sampling"]
    policies = {p["type"]: p for p in tail["policies"]}
    es = config["exporters"]["elasticsearch"]
    return CollectorSettings(
        sampling_percent=float(resolve(policies["probabilistic"]["probabilistic"]["sampling_percentage"])),
        latency_threshold_ms=float(resolve(policies["latency"]["latency"]["threshold_ms"])),
        decision_wait_s=seconds(resolve(tail["decision_wait"])),
        logs_index=resolve(es["logs_index"]),
        traces_index=resolve(es["traces_index"]),
    )

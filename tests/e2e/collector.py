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


def load_config(path: Path = CONFIG) -> dict[str, Any]:
    """The collector configuration as YAML, ``${env:...}`` references left as written."""
    return yaml.safe_load(path.read_text())


def tail_sampling_policy(config: dict[str, Any], name: str, policy_type: str) -> dict[str, Any]:
    """The tail_sampling policy called ``name``; fails naming the policies there are when it is missing or of another type."""
    policies = config["processors"]["tail_sampling"]["policies"]
    found = [p for p in policies if p.get("name") == name]
    described = [(p.get("name"), p.get("type")) for p in policies]
    assert len(found) == 1, f"tail_sampling has no single policy {name!r}: policies (name, type) are {described}"
    assert found[0].get("type") == policy_type, f"tail_sampling policy {name!r} is not of type {policy_type!r}: {found[0]}"
    return found[0]


def collector_settings(path: Path = CONFIG) -> CollectorSettings:
    config = load_config(path)
    tail = config["processors"]["tail_sampling"]
    es = config["exporters"]["elasticsearch"]
    baseline = tail_sampling_policy(config, "baseline", "probabilistic")["probabilistic"]
    slow = tail_sampling_policy(config, "slow", "latency")["latency"]
    return CollectorSettings(
        sampling_percent=float(resolve(baseline["sampling_percentage"])),
        latency_threshold_ms=float(resolve(slow["threshold_ms"])),
        decision_wait_s=seconds(resolve(tail["decision_wait"])),
        logs_index=resolve(es["logs_index"]),
        traces_index=resolve(es["traces_index"]),
    )

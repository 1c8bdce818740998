"""The Collector's tail-sampling latency rule: what docs/stack.md promises and the e2e suite relies on.

collector-config/otel-collector.yaml keeps every trace slower than ``TAIL_SAMPLING_LATENCY_MS``
(250 ms by default) through its ``slow`` policy. tests/e2e/test_tail_sampling.py shows the running
Collector applying that rule; this module pins the rule itself, so a changed threshold, a changed
policy type or an added upper bound fails here, without the stack.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.e2e.collector import load_config, tail_sampling_policy

ROOT = Path(__file__).resolve().parents[2]
THRESHOLD_VAR = "TAIL_SAMPLING_LATENCY_MS"
DEFAULT_THRESHOLD_MS = 250  # docs/stack.md's .env table
THRESHOLD = f"${{env:{THRESHOLD_VAR}:-{DEFAULT_THRESHOLD_MS}}}"
SLOW_POLICY = {"name": "slow", "type": "latency", "latency": {"threshold_ms": THRESHOLD}}


def test_the_slow_policy_keeps_every_trace_over_the_threshold_on_its_own() -> None:
    config = load_config()
    # Exactly this: any other type, threshold or variable, or an upper_threshold_ms, changes what is kept.
    assert tail_sampling_policy(config, "slow", "latency") == SLOW_POLICY
    # A trace is kept when any top-level policy matches; the rule only counts where the processor runs.
    assert "tail_sampling" in config["service"]["pipelines"]["traces"]["processors"]


def test_compose_and_the_stack_guide_give_the_same_default_threshold() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    passed = compose["services"]["otel-collector"]["environment"][THRESHOLD_VAR]
    assert passed == f"${{{THRESHOLD_VAR}:-{DEFAULT_THRESHOLD_MS}}}", f"docker-compose.yml gives the collector {passed!r}"
    row = re.search(rf"^\| `{THRESHOLD_VAR}` \| `(?P<default>[^`]*)` \|", (ROOT / "docs" / "stack.md").read_text(), re.MULTILINE)
    assert row is not None, f"docs/stack.md's .env table has no {THRESHOLD_VAR} row"
    assert row["default"] == str(DEFAULT_THRESHOLD_MS)

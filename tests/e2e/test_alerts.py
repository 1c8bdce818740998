"""The model-not-loaded and error-rate alerts fire when provoked for real, and only for the service concerned.

ModelNotLoaded (``for: 1m``) is evaluated as loaded from collector-config/prometheus/rules. It is
provoked the way it happens: a service that served with its model loaded is stopped; its lifespan
sets ml_model_loaded to 0 and flushes that last value, which the collector keeps exposing until
its metric_expiration (5 min). HighErrorRate's ``for: 5m`` does not fit a 5-minute suite: the rule
as loaded must go pending for the failing service, and a copy with the identical expression and
``for: 10s`` (loaded from the stack's extra rules directory) must fire. The ``for`` durations
themselves are covered by the promtool rule tests in tests/config.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.config.exprs import RULE_FILES, load_rule_groups
from tests.e2e.backends import Alert, Prometheus, poll
from tests.e2e.conftest import E2ERun

pytestmark = pytest.mark.e2e

SHORT_FOR = "10s"
COPY_LABEL = "e2e_copy"


def rule(name: str) -> dict[str, object]:
    for path in RULE_FILES:
        for group in load_rule_groups(path):
            for r in group["rules"]:
                if r.get("alert") == name:
                    return dict(r)
    raise AssertionError(f"alert {name} not found in {RULE_FILES}")


def alerts_for(prometheus: Prometheus, name: str, job: str, state: str, copy: bool = False) -> list[Alert]:
    return [
        a
        for a in prometheus.alerts()
        if a.name == name and a.labels.get("job") == job and a.state == state and (COPY_LABEL in a.labels) == copy
    ]


def stack_rules_dir() -> Path:
    run_dir = Path(os.environ.get("STACK_RUN_DIR", Path.home() / ".cache" / "otel-ml-stack" / "run"))
    return run_dir / "prometheus" / "rules.d"


def test_model_not_loaded_fires_for_the_stopped_service_only(run: E2ERun, prometheus: Prometheus) -> None:
    unloaded = run.unloaded
    assert unloaded.done.wait(120), "the unloaded service was never stopped"
    assert unloaded.error is None, unloaded.error
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete: -15 is a clean exit too.
    log = unloaded.process.log_tail()
    assert unloaded.exit_code in (0, -signal.SIGTERM) and "Application shutdown complete." in log, (
        f"exit {unloaded.exit_code}:\n{log}"
    )
    job = unloaded.process.service_name
    poll(
        lambda: prometheus.query(f'ml_model_loaded{{job="{job}"}} == 0'),
        timeout_s=60,
        what=f"the final ml_model_loaded=0 of {job} in Prometheus",
    )
    expected_for_s = 60
    assert rule("ModelNotLoaded")["for"] == "1m"
    firing = poll(
        lambda: alerts_for(prometheus, "ModelNotLoaded", job, "firing"),
        timeout_s=max(30.0, (unloaded.stopped_at or time.time()) + expected_for_s + 60 - time.time()),
        what=f"ModelNotLoaded firing for {job}",
        interval_s=2,
    )
    assert firing[0].labels["severity"] == "critical"
    for role in ("fast", "slow", "error"):
        assert not [a for a in prometheus.alerts() if a.name == "ModelNotLoaded" and a.labels.get("job") == run.name(role)]


@pytest.fixture
def short_for_copy(prometheus: Prometheus) -> Iterator[None]:
    """HighErrorRate, expression untouched, ``for`` shortened, loaded next to the real rules."""
    directory = stack_rules_dir()
    if not directory.is_dir():
        pytest.fail(
            f"{directory} does not exist: scripts/stack.sh must render Prometheus's rule_files with "
            "`<run dir>/prometheus/rules.d/*.yml` (restart the stack: bash scripts/stack.sh down && bash scripts/stack.sh up)"
        )
    original = rule("HighErrorRate")
    copy = {**original, "for": SHORT_FOR, "labels": {**original["labels"], COPY_LABEL: f"for {SHORT_FOR}"}}  # type: ignore[dict-item]
    path = directory / f"e2e-{os.getpid()}.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "e2e-short-for", "rules": [copy]}]}, sort_keys=False))
    try:
        prometheus.reload()
        poll(
            lambda: [r for r in prometheus.rules() if r.get("name") == "HighErrorRate" and r["labels"].get(COPY_LABEL)],
            timeout_s=30,
            what="Prometheus to load the short-for copy of HighErrorRate",
        )
        yield
    finally:
        path.unlink(missing_ok=True)
        prometheus.reload()


def test_high_error_rate_fires_for_the_failing_service_only(run: E2ERun, prometheus: Prometheus, short_for_copy: None) -> None:
    error, fast = run.name("error"), run.name("fast")
    loaded = [r for r in prometheus.rules() if r.get("name") == "HighErrorRate" and not r["labels"].get(COPY_LABEL)]
    assert len(loaded) == 1, "the real HighErrorRate rule is loaded once"
    copy = [r for r in prometheus.rules() if r.get("name") == "HighErrorRate" and r["labels"].get(COPY_LABEL)]
    assert copy[0]["query"] == loaded[0]["query"], "the copy must test the real expression"

    poll(
        lambda: alerts_for(prometheus, "HighErrorRate", error, "firing", copy=True),
        timeout_s=120,
        what=f"HighErrorRate (for {SHORT_FOR}) firing for {error}",
        interval_s=2,
    )
    real = [
        a
        for a in prometheus.alerts()
        if a.name == "HighErrorRate" and a.labels.get("job") == error and COPY_LABEL not in a.labels
    ]
    assert real and real[0].state in ("pending", "firing"), "the rule as loaded sees the same condition"
    assert not [a for a in prometheus.alerts() if a.name == "HighErrorRate" and a.labels.get("job") == fast]

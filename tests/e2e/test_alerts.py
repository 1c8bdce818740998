"""The model-not-loaded and error-rate alerts fire when provoked for real, and only for the service concerned.

ModelNotLoaded (``for: 1m``) is evaluated as loaded from collector-config/prometheus/rules. It is
provoked the way it happens: a live process whose model load takes long (``FAULT_SLOW_LOAD_MS``)
exports ml_model_loaded=0 while its lifespan is still loading. A service that served and was stopped
normally must not fire it, although the collector keeps exposing its last values for its
metric_expiration (5 min): its last report says 1, and the rule as loaded stays inactive for it
over the window in which a final 0 would have paged (checked in Prometheus's ALERTS history).
HighErrorRate's ``for: 5m`` does not fit a 5-minute suite: the rule as loaded must go pending for
the failing service, and a copy with the identical expression and ``for: 10s`` (loaded from the
stack's extra rules directory) must fire. The ``for`` durations themselves are covered by the
promtool rule tests in tests/config.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.config.exprs import RULE_FILES, load_rule_groups
from tests.e2e.backends import Alert, Prometheus, Sample, poll
from tests.e2e.conftest import E2ERun
from tests.e2e.services import OTLP_GRPC, ServiceProcess, service_env

pytestmark = pytest.mark.e2e

SHORT_FOR = "10s"
COPY_LABEL = "e2e_copy"
SLOW_LOAD_MS = 180_000  # longer than the firing test can take (`for: 1m` + pipeline delay)
QUIET_WINDOW_S = 90  # a final 0 would have fired ModelNotLoaded (`for: 1m`) about 70 s after the stop


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


def alert_history(prometheus: Prometheus, name: str, job: str, since: float) -> list[Sample]:
    """Every ALERTS series (pending or firing) Prometheus recorded for ``job`` from ``since`` to now."""
    window_s = max(1, int(time.time() - since))
    return prometheus.query(f'count_over_time(ALERTS{{alertname="{name}",job="{job}"}}[{window_s}s])')


@pytest.fixture(scope="module")
def loading(run: E2ERun) -> Iterator[ServiceProcess]:
    """A live service whose model load takes longer than the whole test: ml_model_loaded stays 0."""
    logs = Path(tempfile.mkdtemp(prefix=f"otel-ml-{run.run_id}-loading-"))
    name = f"{run.run_id}-loading"
    env = service_env(name, run.run_id, OTLP_GRPC, "grpc", {"PROFILE_SAMPLE_RATE": "0", "FAULT_SLOW_LOAD_MS": str(SLOW_LOAD_MS)})
    svc = ServiceProcess("loading", name, env, logs / "loading.log")
    svc.start()
    try:
        yield svc
    finally:
        # SIGTERM would wait for the lifespan startup (the load) to finish first.
        svc.stop(signal.SIGKILL)
        shutil.rmtree(logs, ignore_errors=True)


def test_model_not_loaded_fires_for_a_live_service_still_loading_its_model(
    run: E2ERun, prometheus: Prometheus, loading: ServiceProcess
) -> None:
    started = time.time()
    job = loading.service_name
    assert rule("ModelNotLoaded")["for"] == "1m"
    poll(
        lambda: prometheus.query(f'ml_model_loaded{{job="{job}"}} == 0'),
        timeout_s=60,
        what=f"ml_model_loaded=0 of the loading service {job} in Prometheus\n{loading.log_tail()}",
    )
    firing = poll(
        lambda: alerts_for(prometheus, "ModelNotLoaded", job, "firing"),
        timeout_s=started + 60 + 60 - time.time(),  # `for` plus the pipeline's delay, well inside SLOW_LOAD_MS
        what=f"ModelNotLoaded firing for {job}",
        interval_s=2,
    )
    assert firing[0].labels["severity"] == "critical"
    # Truthful: the process is alive (its CPU counter moves), still loading, and not ready.
    assert loading.proc is not None and loading.proc.poll() is None, loading.log_tail()
    assert prometheus.query(f'sum(changes(process_cpu_time_seconds_total{{job="{job}"}}[1m])) > 0'), (
        "the loading process looks dead"
    )
    assert "fault injection is ON" in loading.log_tail() and "ready; telemetry" not in loading.log_tail()
    assert alert_history(prometheus, "ModelNotLoaded", job, started), "ALERTS history must show it (the quiet check relies on it)"
    for role in ("fast", "slow", "error"):
        assert not [a for a in prometheus.alerts() if a.name == "ModelNotLoaded" and a.labels.get("job") == run.name(role)]


def test_model_not_loaded_stays_quiet_for_a_normally_stopped_service(run: E2ERun, prometheus: Prometheus) -> None:
    stopped = run.stopped
    assert stopped.done.wait(120), "the stopped service was never stopped"
    assert stopped.error is None, stopped.error
    assert stopped.stopped_at is not None
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete: -15 is a clean exit too.
    log = stopped.process.log_tail()
    assert stopped.exit_code in (0, -signal.SIGTERM) and "Application shutdown complete." in log, (
        f"exit {stopped.exit_code}:\n{log}"
    )
    job = stopped.process.service_name
    # A final 0 would be on Prometheus 1 scrape after the stop and page ModelNotLoaded a minute
    # later; watch until the stop is QUIET_WINDOW_S old (bounded: at most that long).
    time.sleep(max(0.0, stopped.stopped_at + QUIET_WINDOW_S - time.time()))
    after_stop = stopped.stopped_at + 10  # the rule resolves its pending startup state within one evaluation
    window_s = int(time.time() - stopped.stopped_at)
    held = prometheus.query(f'min_over_time(ml_model_loaded{{job="{job}"}}[{window_s}s])')
    assert held and all(s.value == 1 for s in held), (
        f"after the stop Prometheus saw ml_model_loaded {held}: a normal stop must report 1"
    )
    assert not alert_history(prometheus, "ModelNotLoaded", job, after_stop), (
        f"ModelNotLoaded went pending/firing for the stopped {job}"
    )
    assert not [a for a in prometheus.alerts() if a.name == "ModelNotLoaded" and a.labels.get("job") == job]


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

"""Drift counts from a real Prometheus (Debian's 2.42, on a private port, over a TSDB built with promtool).

The history is the one the newcomer met: a service exporting over OTLP every 60 s is first seen with
its first minute of traffic already in its counters, next to an instance that started earlier and
one that got no traffic at all.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.drift import cli as drift_cli
from service.drift.sources import from_prometheus
from tests.support.net import free_port, wait_ok

STEP_S = 15  # the scrape interval of the history
NOW = (int(time.time()) // STEP_S) * STEP_S
START, END = NOW - 3600, NOW - 600  # the report's window
BUCKETS = (("score", "q00"), ("score", "q05"), ("annual_income", "q03"))


def _series(instance: str, values: list[tuple[float, float]]) -> list[str]:
    """OpenMetrics sample lines of every bucket of one instance (each bucket gets the same counts)."""
    lines = []
    for feature, bucket in BUCKETS:
        labels = f'job="credit-risk-service",instance="{instance}",ml_feature="{feature}",ml_bucket="{bucket}"'
        lines += [f"ml_feature_bucket_total{{{labels}}} {value} {at}" for at, value in values]
    return lines


def _history() -> str:
    old = [(at, 100 + (50 * max(at - START, 0)) // (END - START)) for at in range(START - 1200, END + 1, STEP_S)]  # +50 in window
    new_since = START + 1800  # first export 60 s after start, traffic already counted
    new = [(at, 15403) for at in range(new_since, END + 1, STEP_S)]
    idle = [(at, 7) for at in range(START - 600, END + 1, STEP_S)]
    # not exported for 10 minutes around the start (a collector restart): stale at START, yet not new
    gap = [(at, 500) for at in range(START - 1200, START - 400, STEP_S)]
    gap += [(at, 520) for at in range(START + 600, END + 1, STEP_S)]
    lines = ["# TYPE ml_feature_bucket counter", *_series("old", old), *_series("new", new), *_series("idle", idle)]
    lines += [*_series("gap", gap), "# EOF"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if binary is None or promtool is None:
        pytest.fail("prometheus/promtool not found (Debian package `prometheus`): run `scripts/check_config.sh install`")
    work = tmp_path_factory.mktemp("prometheus")
    (work / "history.om").write_text(_history())
    blocks = [promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "history.om"), str(work / "data")]
    subprocess.run(blocks, check=True, capture_output=True)
    (work / "prometheus.yml").write_text("global: {}\n")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ok(f"{url}/-/ready", 60, "prometheus", interval_s=0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_an_instance_first_seen_inside_the_window_counts_whole(prometheus: str) -> None:
    fetched = from_prometheus(prometheus, START, END, job="credit-risk-service")
    assert fetched.counts["score"] == {"q00": 15403 + 50 + 20, "q05": 15403 + 50 + 20}
    assert all(isinstance(n, int) for buckets in fetched.counts.values() for n in buckets.values())
    instances = {i["instance"]: (i["predictions"], i["started_in_window"]) for i in fetched.source["instances"]}
    assert instances == {"old": (100, False), "new": (2 * 15403, True), "idle": (0, False), "gap": (40, False)}


def test_an_instance_that_contributes_nothing_is_named_in_a_warning(
    prometheus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--start", str(START), "--end", str(END)]
    argv = ["--prometheus", prometheus, *window, "--job", "credit-risk-service", "--out", str(tmp_path)]
    assert drift_cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "warning: instance idle (job credit-risk-service) contributed no predictions" in captured.err
    assert "30946 predictions" in captured.out  # whole: 2 x (15403 + 50 + 20), never fractional or 0 for the new instance
    assert len(captured.err.strip().splitlines()) == 1

"""Memory stays bounded by the configured queues while the collector is unreachable.

Rather than RSS (noisy, allocator-dependent), this counts what a dead collector could make pile up:
the finished spans and log records of the app still alive anywhere in the process after ~530
requests (2650 spans), in queues, exporter retry buffers or anything else. With no export in
flight, only the queues may hold any: at most ``OTEL_BSP_MAX_QUEUE_SIZE`` spans and
``OTEL_BLRP_MAX_QUEUE_SIZE`` records. A failed batch kept by an exporter, or any unbounded
buffer, shows up as more. The count runs in its own process (``memory_probe``; why is there).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.harness import QUEUE_SIZE, ROOT


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_and_log_records_held_never_exceed_the_queues(protocol: str, tmp_path: Path) -> None:
    out = tmp_path / "alive.json"
    probe = subprocess.run(
        [sys.executable, "-m", "tests.reliability.memory_probe", protocol, str(out)],
        cwd=ROOT,
        capture_output=True,
        timeout=240,
        check=False,  # the return code is asserted below, with the probe's stderr
    )
    assert probe.returncode == 0, probe.stderr.decode()[-3000:]
    result = json.loads(out.read_text())
    assert result["ok"] == result["requests"], result
    assert 0 < result["spans"] <= QUEUE_SIZE, (
        f"{result['spans']} spans alive after {result['requests'] * 5} were made (queue {QUEUE_SIZE})"
    )
    assert 0 < result["log_records"] <= QUEUE_SIZE, f"{result['log_records']} log records alive (queue {QUEUE_SIZE})"

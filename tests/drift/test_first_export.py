"""Over OTLP the counters reach the backend at their start value right after startup, not an interval later.

Otherwise Prometheus's first sample of each series already holds the first interval's traffic, which
``increase()`` (the recording rules, the alerts) never counts.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.service.test_startup_checks import otlp_http_env
from tests.support.net import free_port, serve, wait_service_ready
from tests.support.otlp_receiver import HttpReceiver


def test_the_first_metric_export_comes_at_startup_with_every_bucket_at_zero(tmp_path: Path) -> None:
    receiver = HttpReceiver().start()
    port = free_port()
    env = otlp_http_env(receiver, tmp_path, OTEL_METRIC_EXPORT_INTERVAL="60000")  # the default: no other export in the test
    process = serve(port, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_service_ready(port)
        assert receiver.received.wait_for(lambda: bool(receiver.received.metric("ml.feature.bucket")), timeout=15), (
            "no metric export in the first seconds after startup"
        )
        (first, *_) = receiver.received.metric("ml.feature.bucket")
        points = first.sum.data_points
        assert len(points) == 100 and {p.as_int for p in points} == {0}
        assert [p.as_int for p in receiver.received.metric("ml.model.loaded")[0].gauge.data_points] == [1]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            process.kill()
            receiver.stop()

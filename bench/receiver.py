"""``python -m bench.receiver``: a real OTLP/gRPC receiver in its own process, counting what arrives.

It is ``tests/support/otlp_receiver.GrpcReceiver`` (decodes every export with opentelemetry-proto)
with a store that counts spans, metric points and log records instead of keeping them, so a long
run does not grow it. Protocol on stdio: it prints ``PORT <n>`` once listening; each ``counts``
line on stdin is answered with one JSON line of totals; EOF stops it.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from tests.support.otlp_receiver import GrpcReceiver, Received


class CountingReceived(Received):
    def __init__(self) -> None:
        super().__init__()
        self.totals = {
            "trace_requests": 0,
            "spans": 0,
            "metric_requests": 0,
            "metric_points": 0,
            "log_requests": 0,
            "log_records": 0,
        }
        self._count_lock = threading.Lock()

    def add(self, kind: str, message: Any, headers: dict[str, str]) -> None:
        if kind == "traces":
            key, items = "trace_requests", ("spans", _spans(message))
        elif kind == "metrics":
            key, items = "metric_requests", ("metric_points", _points(message))
        else:
            key, items = "log_requests", ("log_records", _logs(message))
        with self._count_lock:
            self.totals[key] += 1
            self.totals[items[0]] += items[1]

    def snapshot(self) -> dict[str, int]:
        with self._count_lock:
            return dict(self.totals)


def _spans(message: Any) -> int:
    return sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)


def _logs(message: Any) -> int:
    return sum(len(sl.log_records) for rl in message.resource_logs for sl in rl.scope_logs)


def _points(message: Any) -> int:
    total = 0
    for rm in message.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                total += len(getattr(metric, kind).data_points) if kind else 0
    return total


def main() -> None:
    received = CountingReceived()
    receiver = GrpcReceiver(received).start()
    print(f"PORT {receiver.port}", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "counts":
                print(json.dumps(received.snapshot()), flush=True)
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()

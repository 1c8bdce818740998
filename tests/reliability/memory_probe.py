"""``python -m tests.reliability.memory_probe PROTOCOL OUT.json``: what a dead collector leaves alive.

Run in its own process by test_memory_bound.py, so nothing of pytest's (its log capture keeps every
record, and the exporters log their exceptions, whose tracebacks reach the failed batches) or of
other tests' apps can hold telemetry and blur the count.

The app is the real one with the real OTLP exporters and batch processors, pointed at a collector
that refuses connections. A first burst runs with exports failing as in production; then each batch
processor's export lock is taken (SDK internals, 1.45), so no export is in flight and the cyclic
garbage of failed ones can be collected, and a second burst refills the queues. It writes how many
finished spans and log records of this app (by ``service.instance.id``) are alive anywhere.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.reliability.harness import QUEUE_SIZE, FaultyCollector

FIRST_BURST = 400  # 2000 spans and 400 log records, 30x what the queues hold
SECOND_BURST = 2 * QUEUE_SIZE


def _export_locks(telemetry: Any) -> list[Any]:
    span_processors = telemetry.tracer_provider._active_span_processor._span_processors
    log_processors = telemetry.logger_provider._multi_log_record_processor._log_record_processors
    return [p._batch_processor._export_lock for p in (*span_processors, *log_processors)]


def _alive(kind: type, instance_id: str) -> int:
    return sum(
        1
        for obj in gc.get_objects()
        if isinstance(obj, kind)
        and getattr(obj, "resource", None) is not None
        and obj.resource.attributes.get("service.instance.id") == instance_id
    )


def main(protocol: str, out: Path) -> None:
    collector = FaultyCollector(protocol).up()
    os.environ.update(collector.env())
    collector.down()  # refused from the first export on

    from fastapi.testclient import TestClient
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.trace import ReadableSpan

    from service.api.schemas import EXAMPLE_APPLICATION
    from service.app import create_app
    from service.config import Settings

    settings = Settings.from_env({}, request_log="all", profile_sample_rate=0.0, telemetry_dir=Path(tempfile.mkdtemp()))
    with TestClient(create_app(settings)) as client:
        telemetry = client.app.state.service.telemetry  # type: ignore[attr-defined]
        instance_id = str(telemetry.resource.attributes["service.instance.id"])
        statuses = [client.post("/predict", json=EXAMPLE_APPLICATION).status_code for _ in range(FIRST_BURST)]
        with ExitStack() as paused:
            for lock in _export_locks(telemetry):
                if not lock.acquire(timeout=60):
                    raise SystemExit("an export never finished")
                paused.callback(lock.release)
            statuses += [client.post("/predict", json=EXAMPLE_APPLICATION).status_code for _ in range(SECOND_BURST)]
            gc.collect()
            result = {
                "requests": len(statuses),
                "ok": statuses.count(200),
                "spans": _alive(ReadableSpan, instance_id),
                "log_records": _alive(ReadableLogRecord, instance_id),
            }
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))

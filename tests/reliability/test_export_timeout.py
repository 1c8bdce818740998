"""``OTEL_EXPORTER_OTLP[_<SIGNAL>]_TIMEOUT`` is milliseconds (the spec), for every OTLP exporter we build.

opentelemetry-python 1.45 reads the raw number as seconds (open-telemetry/opentelemetry-python#4044),
so docker-compose's ``5000`` would have meant 83 minutes per hung export; ``otel.exporters`` passes
the converted value. The effective timeout is read from the exporters (SDK internals, 1.45); the
behaviour it buys (a hung export given up within seconds) is in test_collector_faults.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from otel import exporters
from otel.exporters import FileSink


def _effective_timeout_s(exporter: Any) -> float:
    client = getattr(exporter, "_client", None)
    return float(client._timeout if hasattr(client, "_timeout") else exporter._timeout)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_timeouts_are_read_as_milliseconds_with_per_signal_overrides(
    protocol: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "700",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the SDK reads what we do not pass from os.environ
    sink = FileSink(tmp_path, 1024, 0)
    spans, _ = exporters.span_exporter(env, sink)
    logs, _ = exporters.log_exporter(env, sink)
    metrics, _ = exporters.metric_exporter(env)
    try:
        assert _effective_timeout_s(spans) == pytest.approx(0.7)
        assert _effective_timeout_s(logs) == pytest.approx(2.5)
        assert _effective_timeout_s(metrics) == pytest.approx(2.5)
    finally:
        for exporter in (spans, logs, metrics):
            exporter.shutdown()


def test_unset_timeout_keeps_the_sdk_default_of_10_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TIMEOUT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", raising=False)
    spans, _ = exporters.span_exporter(env, FileSink(tmp_path, 1024, 0))
    try:
        assert _effective_timeout_s(spans) == pytest.approx(10.0)
    finally:
        spans.shutdown()

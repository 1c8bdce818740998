"""The real process with a broken collector: drops are counted and warned about (rate-limited), SIGTERM stays bounded.

``python -m service`` exports over OTLP to a real receiver that is down, hanging or slow. Every
request is answered; ``/metrics`` shows the SDK's own pipeline metrics counting what was dropped
(``otel_sdk_processor_span_processed_total{error_type="queue_full"}``) and what failed to export;
stdout carries the SDK's warnings through the service's rate limit (at least one, a handful at most,
while hundreds of items are dropped); and SIGTERM still ends the process within
``OTEL_EXPORTER_OTLP_TIMEOUT`` + 5 s.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.api.schemas import EXAMPLE_APPLICATION
from tests.reliability.harness import QUEUE_SIZE, FaultyCollector, ServiceProcess, scrape, total

TIMEOUT_MS = 1000
REQUESTS = 150
SDK_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR) (opentelemetry\S*) ", re.MULTILINE)
MOST_SDK_LINES = 8  # one per distinct SDK message per 30 s (otel.logs.RateLimitFilter), whatever the load


def _failed_exports(service: ServiceProcess) -> float:
    samples = scrape(httpx.get(f"{service.url}/metrics", timeout=10.0).text)
    return sum(s.value for s in samples if s.name == "otel_sdk_exporter_span_exported_total" and s.labels.get("error_type"))


@pytest.fixture
def broken(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FaultyCollector, ServiceProcess, str]]:
    fault, protocol = request.param
    collector = FaultyCollector(protocol).up()
    env = {**collector.env(TIMEOUT_MS), "TELEMETRY_DIR": str(tmp_path), "PROFILE_SAMPLE_RATE": "0"}
    if fault == "down":
        collector.down()
    elif fault == "hang":
        collector.hang()
    else:
        collector.slow(0.5)
    service = ServiceProcess(env, tmp_path / "stdout.log")
    try:
        service.wait_ready()
        yield collector, service, fault
    finally:
        service.kill()
        collector.heal()
        collector.down()


@pytest.mark.parametrize(
    "broken",
    [("down", "grpc"), ("down", "http/protobuf"), ("hang", "grpc"), ("hang", "http/protobuf"), ("slow", "grpc")],
    indirect=True,
    ids=["down-grpc", "down-http", "hang-grpc", "hang-http", "slow-grpc"],
)
def test_requests_succeed_drops_are_counted_and_warned_and_sigterm_is_bounded(
    broken: tuple[FaultyCollector, ServiceProcess, str],
) -> None:
    collector, service, fault = broken
    with httpx.Client(base_url=service.url, timeout=10.0) as client:
        for _ in range(REQUESTS):
            assert client.post("/predict", json=EXAMPLE_APPLICATION).status_code == 200
        samples = scrape(client.get("/metrics").text)

    span_capacity = total(samples, "otel_sdk_processor_span_queue_capacity")
    assert span_capacity == QUEUE_SIZE
    assert total(samples, "otel_sdk_processor_span_queue_size") <= span_capacity
    dropped = total(samples, "otel_sdk_processor_span_processed_total", error_type="queue_full")
    assert dropped > 0, "a collector that cannot keep up must shed load, and say so in a metric"
    if fault != "slow":  # a failed export is recorded when the exporter gives up (after its timeout)
        assert collector.received.wait_for(lambda: _failed_exports(service) > 0, 30.0), "failed exports are not counted"

    elapsed = service.terminate()
    output = service.output()
    assert service.process.returncode in (0, -signal.SIGTERM), output[-2000:]
    assert "Application shutdown complete" in output
    assert elapsed < TIMEOUT_MS / 1000 + 5.0, f"SIGTERM took {elapsed:.1f}s with the collector {fault}"

    sdk_lines = SDK_LINE.findall(output)
    assert any("dropping" in line for line in output.splitlines() if "opentelemetry" in line), "drops happened silently"
    assert 1 <= len(sdk_lines) <= MOST_SDK_LINES, (
        f"{len(sdk_lines)} SDK warnings for {dropped:.0f} dropped spans:\n{output[-3000:]}"
    )

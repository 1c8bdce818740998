"""A request record carries what the request's spans recorded: stages, hot functions, resource figures."""

from __future__ import annotations

import re

import pytest

from service.traces.files import FileSource
from service.traces.model import STAGES, Query, location
from service.traces.records import RequestRecord, records, slowest
from tests.traces.conftest import SLOW_FUNCTION, SLOW_MS, Recorded


@pytest.fixture(scope="module")
def by_id(recorded: Recorded) -> dict[str, RequestRecord]:
    return {r.trace_id: r for r in records(FileSource(recorded.directory).requests(Query()))}


def test_slow_requests_name_their_slow_stage_and_function(recorded: Recorded, by_id: dict[str, RequestRecord]) -> None:
    for trace_id in recorded.slow:
        rec = by_id[trace_id]
        assert rec.route == "/predict" and rec.method == "POST" and rec.status == 200
        assert rec.latency_ms >= SLOW_MS
        assert rec.stage_ms["feature_engineering"] is not None and rec.stage_ms["feature_engineering"] >= SLOW_MS
        assert rec.profile_trigger == "slow"
        assert rec.hot_functions and rec.hot_functions[0].name == SLOW_FUNCTION
        assert re.search(r"/service/pipeline/faults\.py:\d+$", location(rec.hot_functions[0]))


def test_profiled_requests_carry_cpu_and_memory(recorded: Recorded, by_id: dict[str, RequestRecord]) -> None:
    for trace_id in recorded.profiled:
        rec = by_id[trace_id]
        assert rec.profile_trigger == "sampled"
        assert rec.cpu_time_ms is not None and rec.cpu_time_ms > 0
        assert rec.rss_mb is not None and rec.rss_mb > 10
        assert rec.memory_delta_mb is not None
        assert all(rec.stage_ms[stage] is not None for stage in STAGES)


def test_every_record_names_model_version_and_instance(by_id: dict[str, RequestRecord]) -> None:
    assert {r.model_version for r in by_id.values()} == {"1.0.0"}
    assert all(r.service_instance_id and len(r.service_instance_id) == 36 for r in by_id.values())


def test_rejected_request_stops_after_validation(recorded: Recorded, by_id: dict[str, RequestRecord]) -> None:
    rec = by_id[recorded.rejected[0]]
    assert rec.status == 422
    assert rec.stage_ms["validation"] is not None and rec.stage_ms["onnx_inference"] is None


def test_slowest_orders_by_latency(recorded: Recorded, by_id: dict[str, RequestRecord]) -> None:
    top = slowest(list(by_id.values()), 3)
    assert {r.trace_id for r in top} == set(recorded.slow)
    assert [r.latency_ms for r in top] == sorted((r.latency_ms for r in top), reverse=True)


def test_route_and_time_filters(recorded: Recorded, by_id: dict[str, RequestRecord]) -> None:
    source = FileSource(recorded.directory)
    batch = records(source.requests(Query(route="/predict/batch")))
    assert [r.trace_id for r in batch] == recorded.batch
    newest = max(by_id.values(), key=lambda r: r.start_time)
    since_ns = int(newest.start_time.timestamp() * 1e9) - 1000
    assert [r.trace_id for r in records(source.requests(Query(since_ns=since_ns)))] == [newest.trace_id]

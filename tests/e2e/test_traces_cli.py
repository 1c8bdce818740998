"""``python -m service.traces`` against the real stack: Jaeger's query API and the Collector's Elasticsearch indices.

The slow role's requests spend SLOW_FAULT_MS in ``slow_feature_fault``; the commands must list them as
the slowest, draw their waterfall with that hot function, and export their records.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from service.traces.cli import main
from tests.e2e.backends import ELASTICSEARCH_URL, JAEGER_URL, Elasticsearch, Jaeger
from tests.e2e.collector import CollectorSettings
from tests.e2e.conftest import SLOW_BURST, SLOW_FAULT_MS, E2ERun
from tests.e2e.test_elasticsearch import by_trace
from tests.e2e.test_jaeger import SLOW_FUNCTION, STAGES, complete_trace

pytestmark = pytest.mark.e2e

LIMIT = 20 * SLOW_BURST


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _slow_ids(run: E2ERun) -> set[str]:
    return {r.trace_id for r in run.burst["slow"] if r.trace_id}


@pytest.fixture(scope="module")
def in_jaeger(run: E2ERun, jaeger: Jaeger) -> E2ERun:
    for reply in run.burst["slow"]:
        complete_trace(jaeger, reply, 1 + len(STAGES))
    return run


@pytest.fixture(scope="module")
def in_elasticsearch(run: E2ERun, elasticsearch: Elasticsearch, collector: CollectorSettings) -> E2ERun:
    for reply in run.burst["slow"]:
        assert reply.trace_id
        by_trace(elasticsearch, collector.traces_index, reply.trace_id, count=1 + len(STAGES))
        by_trace(elasticsearch, collector.logs_index, reply.trace_id)
    return run


def test_jaeger_slowest_lists_the_slow_requests(in_jaeger: E2ERun, capsys: pytest.CaptureFixture[str]) -> None:
    # --limit above what the role sent (burst plus background load), so every burst request is listed
    status, out, err = _run(capsys, "--jaeger", JAEGER_URL, "--service", in_jaeger.name("slow"), "slowest", "--limit", str(LIMIT))
    assert status == 0, err
    rows = [line.split() for line in out.splitlines()[2:] if line.strip()]
    assert _slow_ids(in_jaeger) <= {row[0] for row in rows}
    latencies = [float(row[5]) for row in rows]
    assert min(latencies) >= SLOW_FAULT_MS and latencies == sorted(latencies, reverse=True)
    assert all(SLOW_FUNCTION in " ".join(row) for row in rows)


def test_jaeger_show_draws_the_waterfall_with_hot_functions(in_jaeger: E2ERun, capsys: pytest.CaptureFixture[str]) -> None:
    trace_id = in_jaeger.burst["slow"][0].trace_id
    assert trace_id
    status, out, err = _run(capsys, "--jaeger", JAEGER_URL, "show", trace_id)
    assert status == 0, err
    assert out.startswith(f"trace {trace_id}  POST /predict  status 200")
    assert all(f"  {stage}" in out for stage in STAGES)
    assert "hot functions of feature_engineering" in out and SLOW_FUNCTION in out and "service/pipeline/faults.py:" in out
    assert "log records: this source holds none" in out


def test_jaeger_unknown_trace_is_one_line(in_jaeger: E2ERun, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "--jaeger", JAEGER_URL, "show", "0af7651916cd43dd8448eb211c80319c")
    assert status == 2 and err.count("\n") == 1 and "not found in Jaeger" in err


def test_elasticsearch_slowest_and_show_with_logs(in_elasticsearch: E2ERun, capsys: pytest.CaptureFixture[str]) -> None:
    name = in_elasticsearch.name("slow")
    status, out, err = _run(capsys, "--elasticsearch", ELASTICSEARCH_URL, "--service", name, "slowest", "--limit", str(LIMIT))
    assert status == 0, err
    listed = {line.split()[0] for line in out.splitlines()[2:] if line.strip()}
    assert _slow_ids(in_elasticsearch) <= listed

    trace_id = in_elasticsearch.burst["slow"][0].trace_id
    assert trace_id
    status, out, err = _run(capsys, "--elasticsearch", ELASTICSEARCH_URL, "show", trace_id)
    assert status == 0, err
    assert all(f"  {stage}" in out for stage in STAGES)
    assert SLOW_FUNCTION in out
    assert "log records" in out and "POST /predict 200" in out


def test_elasticsearch_export_has_the_slow_stage(
    in_elasticsearch: E2ERun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "requests.csv"
    status, _, err = _run(
        capsys,
        "--elasticsearch",
        ELASTICSEARCH_URL,
        "--service",
        in_elasticsearch.name("slow"),
        "export",
        "--format",
        "csv",
        "--out",
        str(out_file),
        "--route",
        "/predict",
    )
    assert status == 0, err
    with out_file.open() as handle:
        rows = {row["trace_id"]: row for row in csv.DictReader(handle)}
    assert _slow_ids(in_elasticsearch) <= rows.keys()
    for trace_id in _slow_ids(in_elasticsearch):
        assert float(rows[trace_id]["stage_ms_feature_engineering"]) >= SLOW_FAULT_MS
        assert rows[trace_id]["model_version"] and rows[trace_id]["service_instance_id"]

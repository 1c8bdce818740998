"""Export: one typed row per recorded request, in Parquet (pyarrow) or CSV; the pandas example of docs/slow-requests.md runs."""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import pytest

from service.traces.cli import main
from service.traces.records import columns
from tests.traces.conftest import SLOW_FUNCTION, Recorded

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "slow-requests.md"
STAGE_COLUMNS = ["stage_ms_validation", "stage_ms_feature_engineering", "stage_ms_onnx_inference", "stage_ms_serialization"]


def _export(recorded: Recorded, out: Path, fmt: str, *extra: str) -> int:
    return main(["--source", str(recorded.directory), "export", "--format", fmt, "--out", str(out), *extra])


def test_parquet_has_the_typed_schema_and_one_row_per_request(recorded: Recorded, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "requests.parquet"
    assert _export(recorded, out, "parquet") == 0
    table = pq.read_table(out)
    schema = {field.name: field.type for field in table.schema}
    assert list(schema)[:7] == ["trace_id", "span_id", "start_time", "route", "method", "status", "latency_ms"]
    assert schema["start_time"] == pa.timestamp("us", tz="UTC")
    assert schema["status"] == pa.int32() and schema["latency_ms"] == pa.float64()
    assert all(schema[c] == pa.float64() for c in [*STAGE_COLUMNS, "cpu_time_ms", "rss_mb", "memory_delta_mb", "hot_1_self_ms"])
    assert all(
        schema[c] == pa.string()
        for c in ["profile_trigger", "hot_1_function", "hot_1_location", "model_version", "service_instance_id"]
    )
    rows = {row["trace_id"]: row for row in table.to_pylist()}
    assert sorted(rows) == sorted(recorded.all)
    slow = rows[recorded.slow[0]]
    assert slow["hot_1_function"] == SLOW_FUNCTION and slow["profile_trigger"] == "slow"
    assert rows[recorded.profiled[0]]["cpu_time_ms"] > 0


def test_top_sets_the_hot_function_columns(recorded: Recorded, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "top1.parquet"
    assert _export(recorded, out, "parquet", "--top", "1") == 0
    names = pq.read_table(out).schema.names
    assert "hot_1_function" in names and "hot_2_function" not in names
    assert names == [name for name, _ in columns(1)]


def test_csv_has_the_same_columns(recorded: Recorded, tmp_path: Path) -> None:
    out = tmp_path / "requests.csv"
    assert _export(recorded, out, "csv", "--route", "/predict") == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [name for name, _ in columns()]
    assert sorted(r["trace_id"] for r in rows) == sorted(recorded.slow + recorded.profiled + recorded.rejected)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", r["start_time"]) for r in rows)


def test_parquet_without_pyarrow_says_how_to_install(
    recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    out = tmp_path / "requests.parquet"
    assert _export(recorded, out, "parquet") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -e '.[analysis]'" in err
    assert not out.exists()


def test_the_guides_pandas_example_runs_on_an_exported_file(
    recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GUIDE.read_text()
    block = re.search(r"<!-- pandas-example:[^\n]*-->\n```python\n(.*?)```", text, re.DOTALL)
    assert block, "docs/slow-requests.md lost its pandas example"
    monkeypatch.chdir(tmp_path)
    assert _export(recorded, tmp_path / "requests.parquet", "parquet") == 0
    exec(compile(block.group(1), "docs/slow-requests.md (pandas example)", "exec"), {})
    printed = capsys.readouterr().out
    assert "latency_ms" in printed and "cpu_time_ms" in printed
    assert any(t in printed for t in recorded.slow), "the slowest 5% lists a slow request"

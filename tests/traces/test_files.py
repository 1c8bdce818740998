"""The file source reads every file the embedded default wrote: rotated, several instances, mid-write."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.traces.files import FileSource
from service.traces.model import Query, SourceUnavailable, UnknownTrace
from service.traces.records import records
from tests.traces.conftest import Recorded


def test_every_recorded_request_is_read_across_rotated_files(recorded: Recorded) -> None:
    assert (recorded.directory / "traces.jsonl.1").exists(), "the fixture's small files should have rotated"
    found = records(FileSource(recorded.directory).requests(Query()))
    assert sorted(r.trace_id for r in found) == sorted(recorded.all)


def test_files_of_several_workers_are_all_read(recorded: Recorded, tmp_path: Path) -> None:
    directory = tmp_path / "telemetry"
    directory.mkdir()
    written = sorted(p for p in recorded.directory.iterdir() if p.name.startswith("traces"))
    assert len(written) >= 2
    for worker, path in enumerate(written, start=1):  # each file as if one worker had written it
        (directory / f"traces-worker{worker}.jsonl").write_bytes(path.read_bytes())
    found = records(FileSource(directory).requests(Query()))
    assert sorted(r.trace_id for r in found) == sorted(recorded.all)


def test_a_truncated_last_line_is_tolerated_quietly(recorded: Recorded, tmp_path: Path) -> None:
    directory = recorded.copy(tmp_path / "telemetry")
    current = directory / "traces.jsonl"
    whole = current.read_bytes()
    last_line = whole.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    current.write_bytes(whole + last_line[: len(last_line) // 2])  # a write in progress
    source = FileSource(directory)
    assert len(records(source.requests(Query()))) == len(recorded.all)
    assert source.warnings() == []


def test_a_malformed_line_is_skipped_and_counted(recorded: Recorded, tmp_path: Path) -> None:
    directory = recorded.copy(tmp_path / "telemetry")
    current = directory / "traces.jsonl"
    current.write_bytes(b'{"resourceSpans": "not a list of objects"}\nnot json at all\n' + current.read_bytes())
    source = FileSource(directory)
    assert len(records(source.requests(Query()))) == len(recorded.all)
    (warning,) = source.warnings()
    assert "skipped 2 malformed line(s)" in warning and "traces.jsonl: 2" in warning


def test_log_records_of_a_trace_are_read(recorded: Recorded) -> None:
    logs = FileSource(recorded.directory).logs(recorded.slow[0])
    assert [r.body.split()[:3] for r in logs] == [["POST", "/predict", "200"]]
    assert logs[0].attributes["latency_ms"] >= 100


def test_missing_directory_and_unknown_trace_are_named(tmp_path: Path, recorded: Recorded) -> None:
    with pytest.raises(SourceUnavailable, match="no such directory"):
        FileSource(tmp_path / "absent")
    with pytest.raises(UnknownTrace, match="0af7651916cd43dd8448eb211c80319c"):
        FileSource(recorded.directory).trace("0af7651916cd43dd8448eb211c80319c")

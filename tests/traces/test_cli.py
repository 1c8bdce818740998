"""The commands as a user runs them: plain text in a pipe, rich on a terminal, one stderr line on bad input."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from service.traces.cli import main
from service.traces.files import FileSource
from service.traces.render import Output
from service.traces.views import waterfall
from tests.traces.conftest import SLOW_FUNCTION, Recorded

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err


def test_slowest_lists_the_slow_requests_first_in_plain_text(recorded: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source", str(recorded.directory), "slowest", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].split()[:5] == ["trace", "id", "start", "(UTC)", "route"]
    listed = [line.split()[0] for line in lines[2:5]]
    assert set(listed) == set(recorded.slow)
    assert all(SLOW_FUNCTION in line for line in lines[2:5])
    assert "\x1b[" not in out and "│" not in out, "no terminal codes or box drawing in a pipe"


def test_show_draws_the_waterfall_hot_functions_resources_and_logs(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_id = recorded.slow[0]
    assert main(["--source", str(recorded.directory), "show", trace_id]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"trace {trace_id}  POST /predict  status 200")
    for stage in ("validation", "feature_engineering", "onnx_inference", "serialization"):
        assert f"  {stage}" in out
    assert "hot functions of feature_engineering" in out
    assert SLOW_FUNCTION in out and "service/pipeline/faults.py:" in out
    assert "profile.trigger slow" in out
    assert "log records" in out and "POST /predict 200" in out


def test_show_of_a_profiled_request_has_cpu_and_memory(recorded: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source", str(recorded.directory), "show", recorded.profiled[0]]) == 0
    out = capsys.readouterr().out
    assert "process.cpu_time_ms" in out and "process.memory.rss_mb" in out and "process.memory.delta_mb" in out


def test_on_a_terminal_output_is_rich(recorded: Recorded) -> None:
    stream = io.StringIO()
    source = FileSource(recorded.directory)
    trace = source.trace(recorded.slow[0])
    waterfall(Output(stream, rich=True), trace, source.logs(recorded.slow[0]))
    text = stream.getvalue()
    assert "█" in text and ("│" in text or "┃" in text)
    assert "feature_engineering" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "0af7651916cd43dd8448eb211c80319c"], "trace 0af7651916cd43dd8448eb211c80319c: not found"),
        (["show", "not-a-trace"], "expected 32 hex digits"),
        (["slowest", "--since", "yesterday"], "--since 'yesterday'"),
        (["slowest", "--limit", "0"], "--limit"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    recorded: Recorded, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["--source", str(recorded.directory), *args]) == 2
    assert message in _one_error_line(capsys)


def test_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--source", str(tmp_path / "nowhere"), "slowest"]) == 2
    assert "nowhere: no such directory" in _one_error_line(capsys)


@pytest.mark.parametrize("option", ["--jaeger", "--elasticsearch"])
def test_unreachable_backend(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    assert main([option, url, "--timeout", "2", "slowest"]) == 2
    assert url in _one_error_line(capsys)


def test_malformed_lines_are_skipped_counted_and_exit_3(
    recorded: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = recorded.copy(tmp_path / "telemetry")
    (directory / "traces.jsonl").write_bytes(b"{broken\n" + (directory / "traces.jsonl").read_bytes())
    assert main(["--source", str(directory), "slowest", "--limit", "1"]) == 3
    captured = capsys.readouterr()
    assert any(t in captured.out for t in recorded.slow)
    assert captured.err.count("\n") == 1 and "skipped 1 malformed line(s)" in captured.err


def test_module_runs_as_a_program_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "service.traces",
            "--source",
            str(tmp_path / "absent"),
            "show",
            "0af7651916cd43dd8448eb211c80319c",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("service.traces: ") and "Traceback" not in result.stderr


def test_default_source_is_the_embedded_defaults_directory(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEMETRY_DIR", str(recorded.directory))
    assert main(["slowest", "--limit", "1"]) == 0
    assert f"from {recorded.directory}" in capsys.readouterr().out


def test_recorded_text_is_shown_as_is_not_as_markup() -> None:
    stream = io.StringIO()
    Output(stream, rich=True).table("t [/]", ["h"], [["[bold]body[/] [/]"]])
    assert "[bold]body[/] [/]" in stream.getvalue()

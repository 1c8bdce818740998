"""OTLP/JSON as the spec has it, not as today's writer happens to write it: base64 ids, snake_case names, enum names."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from service.traces.files import FileSource
from service.traces.model import Query, normalise_id
from service.traces.records import records
from tests.traces.conftest import Recorded

_IDS = ("traceId", "spanId", "parentSpanId")


def _rewrite(node: Any, change: Any) -> Any:
    if isinstance(node, dict):
        return dict(change(key, _rewrite(value, change)) for key, value in node.items())
    if isinstance(node, list):
        return [_rewrite(item, change) for item in node]
    return node


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _base64_ids(key: str, value: Any) -> tuple[str, Any]:
    if key in _IDS and value:
        return key, base64.b64encode(bytes.fromhex(value)).decode()
    return key, value


def _snake_case_and_enum_names(key: str, value: Any) -> tuple[str, Any]:
    if key == "kind" and isinstance(value, int):
        value = ["SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER"][value] if value < 3 else value
    return _snake(key), value


def _rewritten_copy(recorded: Recorded, target: Path, change: Any) -> Path:
    target.mkdir()
    for path in recorded.directory.iterdir():
        lines = [json.dumps(_rewrite(json.loads(line), change)) for line in path.read_text().splitlines() if line]
        (target / path.name).write_text("\n".join(lines) + "\n")
    return target


def test_base64_ids_read_as_hex(recorded: Recorded, tmp_path: Path) -> None:
    source = FileSource(_rewritten_copy(recorded, tmp_path / "b64", _base64_ids))
    assert sorted(r.trace_id for r in records(source.requests(Query()))) == sorted(recorded.all)
    assert source.trace(recorded.slow[0]).server is not None
    assert [r.trace_id for r in source.logs(recorded.slow[0])] == [recorded.slow[0]]


def test_snake_case_field_names_and_enum_names_are_read(recorded: Recorded, tmp_path: Path) -> None:
    original = {r.trace_id: r for r in records(FileSource(recorded.directory).requests(Query()))}
    source = FileSource(_rewritten_copy(recorded, tmp_path / "snake", _snake_case_and_enum_names))
    found = {r.trace_id: r for r in records(source.requests(Query()))}
    assert found.keys() == original.keys()
    slow = recorded.slow[0]
    assert found[slow].latency_ms == original[slow].latency_ms
    assert found[slow].stage_ms == original[slow].stage_ms


def test_ids_normalise_from_hex_base64_and_short_jaeger_form() -> None:
    trace_hex = "0af7651916cd43dd8448eb211c80319c"
    assert normalise_id(trace_hex.upper(), 16) == trace_hex
    assert normalise_id(base64.b64encode(bytes.fromhex(trace_hex)).decode(), 16) == trace_hex
    assert normalise_id("af7651916cd43dd8448eb211c80319c", 16) == trace_hex
    assert normalise_id("0000000000000000", 8) is None and normalise_id("", 8) is None

"""Where the pipeline runs: one-row requests on the event loop, batches (and injected slow work) in the pool."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from otel.request import RequestState
from service.config import Settings
from tests.conftest import build_client
from tests.support.stage_recorder import stage_recorder


class ThreadWitness:
    """A request hook and stage observer noting the thread each runs on (hooks run on the event loop)."""

    def __init__(self) -> None:
        self.loop_thread: int | None = None
        self.stage_threads: set[int] = set()

    def on_request_start(self, request: RequestState) -> None:
        self.loop_thread = threading.get_ident()

    def on_response_end(self, request: RequestState, status_code: int) -> None:
        return None

    def on_stage_start(self, request: RequestState, name: str, span: Any) -> None:
        self.stage_threads.add(threading.get_ident())

    def on_stage_end(self, request: RequestState, name: str, span: Any) -> None:
        return None


def _ran_inline(env: dict[str, str], path: str, body: dict[str, Any]) -> bool:
    client, _ = build_client(Settings.from_env(env))
    witness = ThreadWitness()
    with client:
        recorder = stage_recorder(client.app)
        assert recorder is not None
        recorder.request_hooks.append(witness)
        recorder.observers.append(witness)
        assert client.post(path, json=body).status_code == 200
    assert witness.loop_thread is not None and len(witness.stage_threads) == 1
    return witness.stage_threads == {witness.loop_thread}


@pytest.mark.parametrize("path", ["/predict", "/predict_proba"])
def test_one_row_is_scored_on_the_event_loop(path: str, example: dict[str, Any]) -> None:
    assert _ran_inline({}, path, example)


def test_a_small_batch_is_scored_on_the_event_loop(example: dict[str, Any]) -> None:
    assert _ran_inline({}, "/predict/batch", {"instances": [example] * 3})


def test_a_batch_body_over_inline_batch_max_bytes_goes_to_the_thread_pool(example: dict[str, Any]) -> None:
    assert not _ran_inline({}, "/predict/batch", {"instances": [example] * 40})  # about 10 KB
    assert not _ran_inline({"INLINE_BATCH_MAX_BYTES": "0"}, "/predict/batch", {"instances": [example]})


@pytest.mark.parametrize("env", [{"INLINE_SINGLE_ROWS": "false"}, {"FAULT_SLOW_FEATURE_MS": "1"}])
def test_one_row_goes_to_the_pool_when_switched_off_or_slowed_by_a_fault(env: dict[str, str], example: dict[str, Any]) -> None:
    assert not _ran_inline(env, "/predict", example)

"""Folding py-spy's collapsed stacks into self, inclusive and per-thread counts."""

from __future__ import annotations

from bench.profile import EVENT_LOOP, fold

STACKS = [
    "Thread._bootstrap (threading.py:995);BatchProcessor.worker (x.py:10);OTLPSpanExporter.export (t.py:5);"
    "_encode_span (e.py:7) 30",
    "Thread._bootstrap (threading.py:995);WorkerThread.run (a.py:1);Pipeline.run (r.py:40);Session.run (o.py:9) 50",
    "Thread._bootstrap (threading.py:995);WorkerThread.run (a.py:1);Queue.get (queue.py:171);"
    "Condition.wait (threading.py:327) 500",
    "RequestResponseCycle.send (h.py:524) 20",
]


def test_fold_counts_self_and_inclusive_once_per_stack_and_drops_parked_threads() -> None:
    folded = fold(STACKS)
    assert folded.samples == 100  # the 500 samples parked in Condition.wait are not work
    assert folded.self_counts["Session.run (o.py)"] == 50
    assert folded.inclusive_counts["Thread._bootstrap (threading.py)"] == 80
    assert folded.inclusive_counts["Pipeline.run (r.py)"] == 50


def test_fold_attributes_threads_by_their_frames() -> None:
    roles = fold(STACKS).roles
    assert roles["span export thread (BatchSpanProcessor: encode + gRPC)"] == 30
    assert roles["request worker threads (pipeline, off the event loop)"] == 50
    assert roles[EVENT_LOOP] == 20  # a coroutine step resumed from uvloop has no thread root

"""The pre-aggregated instruments used on the request path: handle lookup, whole-batch records."""

from __future__ import annotations

import logging
import os
import threading

import numpy as np
import pytest
from opentelemetry.sdk.resources import Resource

from otel.fastmetrics import PENDING_ROWS_MAX, FastMetrics, PendingBatches

NAMES = ("http.request.method", "http.route", "http.response.status_code")


def test_point_of_is_the_point_of_its_attributes_without_the_none_values() -> None:
    histogram = FastMetrics("t", Resource.create({})).histogram("h", "s", "test", [0.1, 1.0])
    routed = histogram.point_of(NAMES, ("POST", "/predict", 200))
    unmatched = histogram.point_of(NAMES, ("POST", None, 404))
    assert routed is histogram.point({"http.request.method": "POST", "http.route": "/predict", "http.response.status_code": 200})
    assert unmatched is histogram.point({"http.request.method": "POST", "http.response.status_code": 404})
    assert histogram.point_of(NAMES, ("POST", "/predict", 200)) is routed
    routed.record(0.05)
    unmatched.record(0.5)
    points = {frozenset(p.attributes.items()): p.count for p in histogram.snapshots(0, 1)}
    assert points == {frozenset(routed.attributes.items()): 1, frozenset(unmatched.attributes.items()): 1}
    assert "http.route" not in unmatched.attributes


@pytest.mark.parametrize("size", [1, 2, 100, PENDING_ROWS_MAX, 2 * PENDING_ROWS_MAX + 3])
def test_record_many_counts_like_one_record_per_value_queued_or_not(size: int) -> None:
    bounds = [0.1, 0.5, 0.9]
    rng = np.random.default_rng(size)
    values = np.where(rng.random(size) < 0.3, rng.choice(bounds, size), rng.random(size)).astype(np.float32)
    registry = FastMetrics("t", Resource.create({}))
    one_by_one = registry.histogram("a", "1", "test", bounds).point()
    at_once = registry.histogram("b", "1", "test", bounds).point()
    for value in values.tolist():
        one_by_one.record(value)
    at_once.record_many(values[: size // 2])  # two calls: the totals accumulate
    at_once.record_many(values[size // 2 :])
    expected, got = one_by_one.snapshot(0, 1), at_once.snapshot(0, 1)
    assert expected is not None and got is not None
    assert list(got.bucket_counts) == list(expected.bucket_counts)
    assert (got.count, got.min, got.max) == (expected.count, expected.min, expected.max) == (size, values.min(), values.max())
    assert got.sum == pytest.approx(expected.sum, rel=1e-12)


def test_record_many_queues_and_every_snapshot_counts_what_is_queued() -> None:
    point = FastMetrics("t", Resource.create({})).histogram("h", "1", "test", [0.5]).point()
    point.record_many(np.array([0.25, 0.75, 0.75]))
    first = point.snapshot(0, 1)
    assert first is not None and list(first.bucket_counts) == [1, 2] and first.count == 3
    point.record(0.1)
    point.record_many(np.array([0.9]))
    second = point.snapshot(0, 2)
    assert second is not None and list(second.bucket_counts) == [2, 3] and (second.min, second.max) == (0.1, 0.9)
    assert second.sum == pytest.approx(2.75)


def test_pending_batches_count_a_full_queue_in_the_background_and_everything_on_flush() -> None:
    folded: list[list[str]] = []
    counted = threading.Event()
    caller = threading.get_ident()
    threads: list[int] = []

    def fold(items: list[str]) -> None:
        folded.append(items)
        threads.append(threading.get_ident())
        counted.set()

    queue: PendingBatches[str] = PendingBatches(fold, max_rows=10, subject="t")
    queue.add("a", 4)
    queue.add("b", 5)
    assert folded == []  # 9 rows: still queued
    queue.add("c", 1)  # 10 rows: counted, but not by this call
    assert counted.wait(5), "a full queue is counted without a read"
    assert folded == [["a", "b", "c"]] and threads[0] != caller
    queue.add("d", 3)
    queue.flush()
    queue.flush()
    assert folded == [["a", "b", "c"], ["d"]]  # each batch counted once


def test_a_queue_four_times_full_is_counted_by_the_request_that_adds_to_it() -> None:
    folded: list[list[int]] = []
    release = threading.Event()
    started = threading.Event()

    def fold(items: list[int]) -> None:
        if threading.current_thread().name.startswith("otel-batch-counts"):
            started.set()
            release.wait(5)  # a background count that cannot keep up
        folded.append(items)

    queue: PendingBatches[int] = PendingBatches(fold, max_rows=2, subject="t")
    queue.add(1, 2)  # full: handed to the background thread, which stalls
    assert started.wait(5)
    threading.Timer(0.2, release.set).start()
    for item in range(2, 6):
        queue.add(item, 2)  # the fourth add reaches 4 x max_rows: it waits for the stalled count, then counts its own
    assert folded == [[1], [2, 3, 4, 5]]


def test_a_failing_fold_is_logged_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    def broken(items: list[int]) -> None:
        raise ValueError("planted fold failure")

    queue: PendingBatches[int] = PendingBatches(broken, max_rows=0, subject="h")
    with caplog.at_level(logging.DEBUG, logger="otel.fastmetrics"):
        queue.add(1, 2)  # max_rows=0: counted by the adding call, which goes on
        queue.add(2, 1)
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.DEBUG]
    assert "counting queued batches of h failed" in caplog.records[0].getMessage()


def test_a_counter_vector_read_counts_its_queued_batches_first() -> None:
    vector = FastMetrics("t", Resource.create({})).counter_vector("v", "1", "test", [{"k": "a"}, {"k": "b"}])
    queue = vector.pending_batches(lambda batches: np.bincount(np.concatenate(batches), minlength=2))
    queue.add(np.array([0, 1, 1]), 3)
    assert vector.values() == [1, 2]
    queue.add(np.array([1]), 1)
    metric = vector.metric(0, 1)
    assert metric is not None and [p.value for p in metric.data.data_points] == [1, 3]


def test_a_forked_child_counts_full_queues_in_a_thread_of_its_own() -> None:
    counted = threading.Event()
    PendingBatches(lambda items: counted.set(), max_rows=1, subject="t").add(0, 1)  # the parent's thread starts
    assert counted.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if a full queue is counted without a read
        child = threading.Event()
        PendingBatches(lambda items: child.set(), max_rows=1, subject="t").add(0, 1)
        os._exit(0 if child.wait(5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

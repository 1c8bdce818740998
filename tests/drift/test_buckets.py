"""Bucket assignment: the reference deciles' rule, the card's shares, and the recorder's paths (one row, queued batches) agree."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk.resources import Resource

from otel.fastmetrics import PENDING_ROWS_MAX, FastMetrics
from scripts.train_model import DEFAULT_ROWS, DEFAULT_SEED, generate_dataset, split_indices
from service.config import Settings
from service.drift.buckets import (
    SCORE_FEATURE,
    UNSEEN,
    DriftReference,
    DriftReferenceError,
    bucket_label,
    decile_bucket,
    decile_shares,
)
from service.drift.recorder import DriftRecorder, create_recorder
from service.loadgen.bodies import BASELINE
from service.pipeline.features import columns_from_records, engineer_features
from service.pipeline.vocabulary import CATEGORICAL_FIELDS, NUMERIC_FIELDS

CARD: dict[str, Any] = json.loads(Settings.from_env({}).model_card_path.read_text())
REFERENCE = DriftReference.from_card(CARD)


@pytest.fixture(scope="module")
def training_split() -> dict[str, np.ndarray]:
    raw, _ = generate_dataset(DEFAULT_SEED, DEFAULT_ROWS)
    train, _ = split_indices(DEFAULT_ROWS, DEFAULT_SEED)
    return {name: column[train] for name, column in raw.items()}


@pytest.mark.parametrize("name", NUMERIC_FIELDS)
def test_card_bucket_shares_are_the_training_splits_shares_under_the_bucket_rule(
    training_split: dict[str, np.ndarray], name: str
) -> None:
    stats = CARD["reference_statistics"]["numeric"][name]
    np.testing.assert_allclose(decile_shares(stats["decile_edges"], training_split[name]), stats["bucket_shares"], atol=1e-6)
    # The edges are the training deciles: about (i+1)/10 of the values or more are <= edge i.
    below = np.cumsum(stats["bucket_shares"])[:-1]
    assert np.all(below >= np.linspace(0.1, 0.9, 9) - 1e-4)


def test_edges_belong_to_the_bucket_below_them() -> None:
    edges = np.array([10.0, 20.0, 30.0])
    values = np.array([-np.inf, 5.0, 10.0, np.nextafter(10.0, 11.0), 20.0, 25.0, 30.0, 30.5, 1e300, np.inf])
    assert decile_bucket(edges, values).tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3, 3]


def test_equal_edges_leave_empty_buckets_out_of_the_exported_labels() -> None:
    delinquencies = REFERENCE.feature("delinquencies_2y")  # edges 0 x8, then 1: "0", "1", "more"
    assert delinquencies.labels == ("q00", "q08", "q09")
    assert delinquencies.ranges == ("<= 0", "(0, 1]", "> 1")
    term = REFERENCE.feature("loan_term_months")  # edges 24, 24, 36, 36, 36, 36, 48, 60, 60
    assert term.labels == ("q00", "q02", "q06", "q07", "q09")
    for feature in REFERENCE.features:
        assert sum(feature.reference) == pytest.approx(1.0, abs=1e-5)
        assert len(feature.labels) == len(set(feature.labels))


def test_categorical_buckets_are_the_vocabulary_plus_unseen() -> None:
    purpose = REFERENCE.feature("purpose")
    assert purpose.labels[:-1] == tuple(CARD["reference_statistics"]["categorical"]["purpose"])
    assert purpose.labels[-1] == UNSEEN and purpose.reference[-1] == 0.0
    assert REFERENCE.names[-1] == SCORE_FEATURE


def test_a_card_without_drift_statistics_is_refused_naming_the_key() -> None:
    card = json.loads(json.dumps(CARD))
    del card["reference_statistics"]["score"]["bucket_shares"]
    with pytest.raises(DriftReferenceError, match="bucket_shares"):
        DriftReference.from_card(card)


# --- the recorder --------------------------------------------------------------------------------


def _recorder() -> DriftRecorder:
    recorder = create_recorder(CARD, FastMetrics("test", Resource.create({})))
    assert recorder is not None
    return recorder


def _counts(recorder: DriftRecorder) -> dict[tuple[str, str], int]:
    attributes = [(a["ml.feature"], a["ml.bucket"]) for a in recorder.counter._attributes]
    return dict(zip(attributes, recorder.counter.values(), strict=True))


def _expected(rows: list[dict[str, Any]], scores: np.ndarray) -> dict[tuple[str, str], int]:
    """Direct computation: numpy searchsorted per feature, a comparison per category."""
    expected: dict[tuple[str, str], int] = {}
    for feature in REFERENCE.features:
        for label in feature.labels:
            expected[(feature.name, label)] = 0
    for name in NUMERIC_FIELDS:
        values = np.array([r[name] for r in rows], dtype=np.float64)
        for index in np.searchsorted(REFERENCE.feature(name).edges, values, side="left"):
            expected[(name, bucket_label(int(index)))] += 1
    for name in CATEGORICAL_FIELDS:
        known = REFERENCE.feature(name).categories
        for row in rows:
            expected[(name, row[name] if row[name] in known else UNSEEN)] += 1
    for index in np.searchsorted(REFERENCE.feature(SCORE_FEATURE).edges, scores, side="left"):
        expected[(SCORE_FEATURE, bucket_label(int(index)))] += 1
    return expected


def _rows_with_edge_values(n: int, seed: int) -> list[dict[str, Any]]:
    """Realistic rows, a third of whose numeric values sit exactly on a decile edge."""
    rng = random.Random(seed)
    rows = [BASELINE.application(rng) for _ in range(n)]
    for row in rows:
        for name in NUMERIC_FIELDS:
            if rng.random() < 0.33:
                edge = rng.choice(REFERENCE.feature(name).edges)
                row[name] = type(row[name])(edge)
        if rng.random() < 0.05:
            row["purpose"] = "yacht"  # impossible after validation, but counted honestly
    return rows


@pytest.mark.parametrize("with_matrix", [False, True], ids=["columns", "model-matrix"])
@pytest.mark.parametrize("rows", [1, 2, 7, 100, 1000, PENDING_ROWS_MAX + 1])
def test_recorder_counts_equal_a_direct_computation(rows: int, with_matrix: bool) -> None:
    data = _rows_with_edge_values(rows, seed=rows)
    rng = np.random.default_rng(rows)
    score_edges = np.asarray(REFERENCE.feature(SCORE_FEATURE).edges)
    scores = np.where(rng.random(rows) < 0.3, rng.choice(score_edges, rows), rng.random(rows))
    recorder = _recorder()
    columns = columns_from_records(data)
    recorder.record(data, columns, scores, engineer_features(columns) if with_matrix else None)
    counts = _counts(recorder)
    assert counts == _expected(data, scores)
    for feature in REFERENCE.features:
        assert sum(v for (f, _), v in counts.items() if f == feature.name) == rows


@pytest.mark.parametrize("rows", [2, 10, 100, 300])
def test_categories_count_alike_from_the_rows_and_from_the_model_matrix(rows: int) -> None:
    data = _rows_with_edge_values(rows, seed=100 + rows)
    scores = np.random.default_rng(rows).random(rows).astype(np.float32)  # the model's own dtype
    columns = columns_from_records(data)
    recorder = _recorder()
    from_rows = recorder.batch_counts(data, columns, scores).tolist()
    from_matrix = recorder.batch_counts(data, columns, scores, engineer_features(columns)).tolist()
    assert from_rows == from_matrix
    assert sum(from_rows) == rows * len(REFERENCE.features)
    assert recorder.counter.values() == [0] * len(recorder.counter), "batch_counts records nothing"


def test_one_by_one_equals_all_at_once() -> None:
    data = _rows_with_edge_values(300, seed=9)
    scores = np.random.default_rng(9).random(300)
    single, small, large = _recorder(), _recorder(), _recorder()
    for row, score in zip(data, scores, strict=True):
        single.record([row], columns_from_records([row]), np.array([score]))
    columns = columns_from_records(data)
    small.record(data[:100], columns_from_records(data[:100]), scores[:100], engineer_features(columns_from_records(data[:100])))
    small.record(data[100:], columns_from_records(data[100:]), scores[100:])
    large.record(data, columns, scores, engineer_features(columns))
    assert _counts(single) == _counts(small) == _counts(large)


def test_every_bucket_is_exported_from_the_start_at_zero() -> None:
    recorder = _recorder()
    metric = recorder.counter.metric(0, 1)
    assert metric is not None
    points = metric.data.data_points
    assert len(points) == sum(len(f.labels) for f in REFERENCE.features) == 100
    assert {p.value for p in points} == {0}
    assert metric.data.is_monotonic and metric.name == "ml.feature.bucket"


def test_a_nan_score_is_left_out_and_logged_instead_of_landing_in_a_bucket(caplog: pytest.LogCaptureFixture) -> None:
    data = _rows_with_edge_values(5, seed=5)
    scores = np.array([0.1, 0.2, np.nan, 0.4, 0.5])
    recorder = _recorder()
    with caplog.at_level(logging.WARNING, logger="service.drift.recorder"):
        recorder.record(data, columns_from_records(data), scores)
        counts = _counts(recorder)
    expected = _expected(data, np.array([0.1, 0.2, 0.4, 0.5]))
    assert counts == expected  # the other four scores and every input of all five rows still counted
    assert sum(v for (f, _), v in counts.items() if f == SCORE_FEATURE) == 4
    assert ["NaN" in r.getMessage() and SCORE_FEATURE in r.getMessage() for r in caplog.records] == [True]


def test_queued_batches_are_in_every_read_and_the_queue_never_holds_more_than_its_rows() -> None:
    recorder = _recorder()
    data = _rows_with_edge_values(10, seed=12)
    columns, scores = columns_from_records(data), np.linspace(0.05, 0.95, 10)
    recorder.record(data, columns, scores, engineer_features(columns))
    assert _counts(recorder) == _expected(data, scores)  # a read counts what is queued
    metric = recorder.counter.metric(0, 1)
    assert metric is not None and sum(p.value for p in metric.data.data_points) == 10 * len(REFERENCE.features)
    batches = PENDING_ROWS_MAX // 10 + 1
    for _ in range(batches):
        recorder.record(data, columns, scores, engineer_features(columns))
    deadline = time.monotonic() + 5
    while recorder._pending._rows >= PENDING_ROWS_MAX and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder._pending._rows < PENDING_ROWS_MAX, "a full queue is counted without waiting for a read"
    assert sum(recorder.counter.values()) == (batches + 1) * 10 * len(REFERENCE.features)


def test_batches_recorded_from_many_threads_while_reading_are_all_counted_once() -> None:
    recorder = _recorder()
    data = _rows_with_edge_values(37, seed=37)
    columns, scores = columns_from_records(data), np.random.default_rng(37).random(37)
    matrix = engineer_features(columns)
    threads, per_thread = 6, 120  # 6 x 120 x 37 rows: the queue fills and is counted many times over
    reads: list[int] = []

    def write() -> None:
        for _ in range(per_thread):
            recorder.record(data, columns, scores, matrix)

    def read() -> None:
        while any(t.is_alive() for t in writers):
            reads.append(sum(recorder.counter.values()))

    writers = [threading.Thread(target=write) for _ in range(threads)]
    reader = threading.Thread(target=read)
    for t in writers:
        t.start()
    reader.start()
    for t in writers:
        t.join()
    reader.join()
    once = _expected(data, scores)
    assert _counts(recorder) == {k: v * threads * per_thread for k, v in once.items()}
    assert reads == sorted(reads), "a read never goes back"

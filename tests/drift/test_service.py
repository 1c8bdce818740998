"""The service counts every scored row into ml.feature.bucket, and only scored rows, with bounded attributes."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from service.config import Settings
from service.drift.buckets import DriftReference
from service.drift.recorder import create_recorder
from service.loadgen.bodies import BASELINE, DRIFTED
from service.pipeline.model import ModelCard
from tests.conftest import Captured, build_client

CARD = ModelCard.load(Settings.from_env({}).model_card_path).raw
REFERENCE = DriftReference.from_card(CARD)


def _counts(captured: Captured) -> dict[tuple[str, str], int]:
    return {(p.attributes["ml.feature"], p.attributes["ml.bucket"]): p.value for p in captured.metric_points("ml.feature.bucket")}


def _per_feature(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (feature, _), value in counts.items():
        totals[feature] = totals.get(feature, 0) + value
    return totals


def test_single_and_batch_predictions_are_counted_after_validation(example: dict[str, Any]) -> None:
    client, captured = build_client()
    rng = random.Random(4)
    with client:
        assert client.post("/predict", json=example).status_code == 200
        assert client.post("/predict_proba", json=example).status_code == 200
        assert client.post("/predict/batch", json=BASELINE.batch(rng, 37)).status_code == 200
        assert client.post("/predict", json={**example, "purpose": "yacht"}).status_code == 422
        assert client.post("/predict/batch", json={"instances": [example, {**example, "age": 5}]}).status_code == 422
        counts = _counts(captured)
    assert _per_feature(counts) == dict.fromkeys(REFERENCE.names, 39)
    assert counts[("purpose", "unseen")] == 0


def _served(requests: list[tuple[str, Any]]) -> tuple[dict[tuple[str, str], int], dict[str, int], tuple[int, list[int], float]]:
    """Drift counts, predictions by class and the score histogram (count, buckets, sum) after serving ``requests``."""
    client, captured = build_client()
    with client:
        for path, body in requests:
            assert client.post(path, json=body).status_code == 200
        (score,) = captured.metric_points("ml.prediction.score")
        classes = {p.attributes["ml.prediction.class"]: p.value for p in captured.metric_points("ml.predictions")}
        return _counts(captured), classes, (score.count, list(score.bucket_counts), score.sum)


def test_the_same_rows_count_alike_one_by_one_in_small_batches_and_in_one_large_batch() -> None:
    rows = BASELINE.batch(random.Random(23), 200)["instances"]
    one_by_one = _served([("/predict", row) for row in rows])
    small = _served([("/predict/batch", {"instances": rows[i : i + 10]}) for i in range(0, 200, 10)])
    large = _served([("/predict/batch", {"instances": rows})])
    for served in (small, large):
        assert served[0] == one_by_one[0]  # ml.feature.bucket, every slot
        assert served[1] == one_by_one[1]  # ml.predictions by class
        count, buckets, total = served[2]
        assert (count, buckets) == one_by_one[2][:2] and total == pytest.approx(one_by_one[2][2], rel=1e-12)
    assert _per_feature(one_by_one[0]) == dict.fromkeys(REFERENCE.names, 200)
    assert one_by_one[2][0] == 200 and set(one_by_one[1]) == {"0", "1"}


def test_failed_inference_counts_nothing(example: dict[str, Any]) -> None:
    client, captured = build_client(Settings.from_env({}, fault_error_rate=1.0))
    with client:
        assert client.post("/predict", json=example).status_code == 500
        assert set(_counts(captured).values()) == {0}


def test_attribute_values_are_only_the_predeclared_pairs() -> None:
    client, captured = build_client()
    rng = random.Random(8)
    with client:
        for population in (BASELINE, DRIFTED):
            client.post("/predict/batch", json=population.batch(rng, 500))
            for _ in range(20):
                client.post("/predict", json=population.application(rng))
        pairs = set(_counts(captured))
    assert pairs == {(f.name, label) for f in REFERENCE.features for label in f.labels}
    assert len(pairs) == 100


def test_no_recorder_without_telemetry() -> None:
    assert create_recorder(CARD, None) is None


def test_broken_drift_counting_never_fails_a_prediction_and_logs_once(
    example: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = build_client()
    with client:
        expected = client.post("/predict", json=example).json()
        recorder = client.app.state.service.pipeline.drift  # type: ignore[attr-defined]

        def broken(*args: object) -> None:
            raise RuntimeError("planted drift failure")

        monkeypatch.setattr(recorder, "record", broken)
        with caplog.at_level(logging.DEBUG, logger="service.pipeline.runner"):
            responses = [client.post("/predict", json=example) for _ in range(3)]
    assert [r.json() for r in responses] == [expected] * 3
    records = [r for r in caplog.records if r.name == "service.pipeline.runner"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert "drift bucket counting failed" in records[0].getMessage() and records[0].exc_info is not None

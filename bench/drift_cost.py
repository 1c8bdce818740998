"""What drift counting costs on the request path: ``DriftRecorder.record`` per request and per row.

Usage::

    python -m bench.drift_cost [--repeat 7] [--json PATH]

Measures in-process, without HTTP, so the number is the recorder's own CPU cost:

* ``record_one``: a single ``/predict`` (a bisect per feature, a dozen locked increments);
* ``record_many``: ``record`` of batches of 10, 100 and 1000 rows with their model matrix, as
  the pipeline calls it, and the counting of the queue they go to (``PENDING_ROWS_MAX`` rows at a
  time: a ``searchsorted`` per feature, categories from the one-hot columns), reported per request
  and per row;
* ``pipeline``: validation and ``Pipeline.run`` of a single ``/predict`` body (features, ONNX,
  serialization, drift counting), and ``record_one``'s share of it. Over HTTP a request costs
  about twice as much again, so the share of a served request is smaller still.

Each figure is the median over ``--repeat`` timing rounds of many calls each (``timeit``), on
varied bodies from the load generator's baseline population.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from opentelemetry.sdk.resources import Resource

from otel.fastmetrics import PENDING_ROWS_MAX, FastMetrics
from service.api.validation import RequestValidator
from service.config import Settings
from service.drift.recorder import create_recorder
from service.loadgen.bodies import BASELINE, encode
from service.pipeline.endpoints import Endpoint
from service.pipeline.features import columns_from_records, engineer_features
from service.pipeline.model import OnnxModel
from service.pipeline.runner import Pipeline


def _median_us(fn: Callable[[], Any], calls: int, repeat: int) -> float:
    return statistics.median(timeit.repeat(fn, number=calls, repeat=repeat)) / calls * 1e6


def _cycle(items: list[Any]) -> Callable[[], Any]:
    state = {"i": 0}

    def next_item() -> Any:
        state["i"] = (state["i"] + 1) % len(items)
        return items[state["i"]]

    return next_item


def measure(repeat: int = 7) -> dict[str, Any]:
    settings = Settings.from_env({})
    model = OnnxModel.load(settings.model_path)
    recorder = create_recorder(model.card.raw, FastMetrics("bench", Resource.create({})))
    assert recorder is not None
    rng = random.Random(7)
    rows = [BASELINE.application(rng) for _ in range(1000)]
    scores = np.asarray([rng.random() for _ in rows])

    results: dict[str, Any] = {"repeat": repeat, "python": sys.version.split()[0], "numpy": np.__version__}
    pick = _cycle(list(range(len(rows))))

    def one() -> None:
        i = pick()
        recorder.record_one(rows[i], float(scores[i]))

    results["record_one_us"] = _median_us(one, 20_000, repeat)
    for size in (10, 100, 1000):
        columns = columns_from_records(rows[:size])
        part = scores[:size]
        batch, features = rows[:size], engineer_features(columns)

        per_fold = max(1, PENDING_ROWS_MAX // size)  # requests whose batches one count of the queue takes

        def call(r: list[Any] = batch, c: dict[str, Any] = columns, s: Any = part, f: Any = features, k: int = per_fold) -> None:
            for _ in range(k):
                recorder.record(r, c, s, f)
            recorder.counter.values()  # counts what is still queued: every batch is counted inside the timing

        per_request = _median_us(call, max(2, 20_000 // (size * per_fold)), repeat) / per_fold
        results[f"record_many_{size}_us"] = per_request
        results[f"record_many_{size}_us_per_row"] = per_request / size

    # The whole in-process request (validation, features, ONNX, serialization, drift included),
    # to put record_one in proportion. (A with/without difference of two ~150 µs medians is
    # swamped by run-to-run noise on a busy machine; the share below is not.)
    body = _cycle([encode(r) for r in rows[:256]])
    pipeline = Pipeline(model, settings, None, drift=recorder)
    validator = RequestValidator(settings.max_batch_size)
    results["pipeline_us"] = _median_us(
        lambda: pipeline.run(Endpoint.PREDICT, validator.rows(Endpoint.PREDICT, body())), 3000, repeat
    )
    results["record_one_share_pct"] = 100.0 * results["record_one_us"] / results["pipeline_us"]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = measure(args.repeat)
    print(f"record_one (single /predict)      {results['record_one_us']:8.2f} µs")
    for size in (10, 100, 1000):
        print(
            f"record_many ({size:>4} rows)          {results[f'record_many_{size}_us']:8.2f} µs"
            f"  ({results[f'record_many_{size}_us_per_row']:.3f} µs/row)"
        )
    print(
        f"Pipeline.run /predict (no HTTP)    {results['pipeline_us']:8.2f} µs  (record_one: "
        f"{results['record_one_share_pct']:.1f} %)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

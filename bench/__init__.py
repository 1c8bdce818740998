"""Benchmarks of the service's telemetry: ``make bench`` (``.venv/bin/python -m bench``) writes BENCHMARKS.md.

Sub-commands (``python -m bench --help``):

* ``run`` (default): every configuration of ``bench.configs`` served by a real uvicorn process and
  loaded by ``wrk``, alternating in rounds (``bench.overhead``); the in-process cost breakdown
  (``bench.costs``); ONNX against scikit-learn (``bench.onnx_vs_sklearn``). ``--quick`` for a smoke run.
* ``rss``: RSS over 100 000 requests at production settings (``bench.rss``).
* ``costs``, ``onnx``: one part of ``run`` alone.
* ``profile CONFIG [--gil]``: py-spy profile of one configuration under load (``bench.profile``).
* ``report``: re-render BENCHMARKS.md from ``bench/results/*.json``.

Needs ``wrk`` (``apt-get install -y wrk``) and, for ``profile`` only, ``py-spy``. The bench-only app
factories in ``bench.apps`` wrap the service the way other designs instrument it; they never ship.
"""

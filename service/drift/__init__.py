"""Data and prediction drift as telemetry: bucket counts on the request path, PSI downstream.

* ``buckets``  — the bucket rule (training deciles / categories) and the reference from the model card
* ``recorder`` — counts every scored row into the ``ml.feature.bucket`` counter (pre-aggregated)
* ``psi``      — population stability index from counts, and its verdict
* ``sources``  — bucket counts from Prometheus (a time range) or a ``/metrics`` exposition
* ``report`` / ``html`` — the drift report as JSON and as a self-contained HTML page
* ``cli``     — the command that writes it (``python -m service.drift``, ``make drift-report``)

The command is ``python -m service.drift``; the Prometheus rules and alerts are generated
by ``scripts/gen_drift_rules.py`` into ``collector-config/prometheus/rules/drift.yml``.
"""

"""Generate the drift recording rules and alerts, and their promtool tests, from the model card.

Usage::

    python scripts/gen_drift_rules.py [--feature-threshold 0.2] [--prediction-threshold 0.2]
                                      [--min-count 500] [--card service/model/model_card.json]
    python scripts/gen_drift_rules.py --check     # exit 1 if the committed files are stale

Writes ``collector-config/prometheus/rules/drift.yml`` and
``collector-config/prometheus/tests/drift.test.yml``. Why generated: the reference shares (one
static series per feature and bucket, ~100 of them) must be exactly the card's, and the tests
need input series shaped like that reference. The options used are recorded in the rules
file's header; ``--check`` regenerates with them, so a custom threshold survives a new card.

PSI per feature is computed from ``ml_feature_bucket_total`` alone: counts are summed over
instances (workers, replicas) per job, feature and bucket *before* shares are taken, then
compared with the reference shares bucket by bucket (both floored at 1e-4, as in
``service/drift/psi.py``).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # allow `python scripts/gen_drift_rules.py` from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from service.drift.buckets import SCORE_FEATURE, DriftReference, FeatureBuckets
from service.drift.psi import EPSILON, psi

CARD = REPO_ROOT / "service" / "model" / "model_card.json"
RULES = REPO_ROOT / "collector-config" / "prometheus" / "rules" / "drift.yml"
TESTS = REPO_ROOT / "collector-config" / "prometheus" / "tests" / "drift.test.yml"
WINDOWS = ("1h", "24h")
NEVER = 10_000  # minutes: "the PSI never crossed the threshold" in the generated scenario
JOB = "credit-risk-service"
_OPTIONS_LINE = re.compile(r"^# options: (.*)$", re.MULTILINE)

REFERENCE = "ml_feature_ml_bucket:ml_feature_bucket:reference_ratio"


def increase(window: str) -> str:
    return f"job_ml_feature_ml_bucket:ml_feature_bucket:increase{window}"


def total(window: str) -> str:
    return f"job_ml_feature:ml_feature_bucket:increase{window}"


def ratio(window: str) -> str:
    return f"job_ml_feature_ml_bucket:ml_feature_bucket:ratio{window}"


def psi_series(window: str) -> str:
    return f"job_ml_feature:ml_feature_bucket:psi{window}"


@dataclass(frozen=True)
class Options:
    feature_threshold: float = 0.2
    prediction_threshold: float = 0.2
    min_count: int = 500

    def argv(self) -> list[str]:
        return [
            f"--feature-threshold={self.feature_threshold:g}",
            f"--prediction-threshold={self.prediction_threshold:g}",
            f"--min-count={self.min_count}",
        ]


# ----------------------------------------------------------------------------------- rules file


def _version_matcher(version: str) -> str:
    """ml_model_version equal to the card's, or absent (collector-less scrapes do not carry it)."""
    escaped = re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\\\1", version)
    return f'ml_model_version=~"{escaped}|"'


def _window_rules(window: str, version: str) -> str:
    floor = f"{EPSILON:g}"
    return f"""      - record: {increase(window)}
        expr: sum by (job, ml_feature, ml_bucket) (increase(ml_feature_bucket_total{{{_version_matcher(version)}}}[{window}]))
      - record: {total(window)}
        expr: sum by (job, ml_feature) ({increase(window)})
      # Shares per job: the sum over instances comes first, so any number of workers is right.
      - record: {ratio(window)}
        expr: |
          {increase(window)}
          / on (job, ml_feature) group_left ()
          ({total(window)} > 0)
      - record: {psi_series(window)}
        expr: |
          sum by (job, ml_feature) (
              (
                clamp_min({ratio(window)}, {floor})
                - on (ml_feature, ml_bucket) group_left ()
                clamp_min({REFERENCE}, {floor})
              )
            *
              (
                ln(clamp_min({ratio(window)}, {floor}))
                - on (ml_feature, ml_bucket) group_left ()
                ln(clamp_min({REFERENCE}, {floor}))
              )
          )
"""


def _alert(name: str, selector: str, threshold: float, min_count: int, what: str, runbook: str) -> str:
    return f"""      - alert: {name}
        expr: |
          {psi_series("1h")}{{{selector}}} > {threshold:g}
          and on (job, ml_feature)
          {total("1h")} >= {min_count}
        for: 30m
        labels:
          severity: warning
          component: model
        annotations:
          summary: '{{{{ $labels.job }}}}: {what} drifted from the training data (PSI {{{{ $value | printf "%.2f" }}}} over 1h)'
          description: 'The last hour of {{{{ $labels.ml_feature }}}} differs from its training distribution: population \
stability index above {threshold:g} for 30 minutes, over at least {min_count} predictions an hour.'
          runbook: "{runbook}"
          dashboard: /d/ml-model-health
"""


def render_rules(reference: DriftReference, options: Options) -> str:
    version = reference.model_version
    lines = [
        f"# GENERATED by scripts/gen_drift_rules.py from service/model/model_card.json ({reference.model_name} {version}).",
        "# Do not edit: change the card or the options and regenerate; tests/config fails when stale.",
        f"# options: {shlex.join(options.argv())}",
        "#",
        "# Drift as a monitored signal: the population stability index (PSI) of every raw input",
        "# feature and of the predicted score, over 1h and 24h, from the ml_feature_bucket_total",
        "# counters alone (buckets = the training data's deciles / categories, see service/drift/).",
        "#   PSI = sum_b (current_b - reference_b) * ln(current_b / reference_b), shares floored at 1e-4",
        "# Counts are summed over instances per (job, feature, bucket) before shares are taken, so",
        "# the result is the same for one worker or many replicas. Only series of this model version",
        "# (or without ml_model_version: collector-less scrapes) are compared with this reference.",
        "# Thresholds: regenerate with --feature-threshold / --prediction-threshold / --min-count.",
        "groups:",
        "  # The training split's share of each bucket (model card reference_statistics), one series each.",
        "  # Constants: every 2 minutes is enough (well inside the 5 minute lookback).",
        "  - name: ml-drift.reference",
        "    interval: 2m",
        "    rules:",
    ]
    for feature in reference.features:
        for label, share in zip(feature.labels, feature.reference, strict=True):
            lines.append(f"      - record: {REFERENCE}")
            lines.append(f"        expr: vector({share:g})")
            lines.append(
                f"        labels: {{ml_feature: {feature.name}, ml_bucket: {_yaml_str(label)}, ml_model_version: "
                f"{_yaml_str(version)}}}"
            )
    text = "\n".join(lines) + "\n"
    text += "\n  - name: ml-drift.1h\n    rules:\n" + _window_rules("1h", version)
    text += "\n  # A day of data per evaluation: every 2 minutes is plenty for a 24h window.\n"
    text += "  - name: ml-drift.24h\n    interval: 2m\n    rules:\n" + _window_rules("24h", version)
    runbook = (
        "Model health dashboard: current vs reference buckets of the feature. Report: python -m service.drift "
        "--prometheus http://localhost:9090 --start -24h. Upstream change (units, defaults, a new channel) or a real "
        "population shift? If it persists, retrain on recent data."
    )
    text += "\n  - name: ml-drift.alerts\n    rules:\n"
    text += _alert(
        "FeatureDrift",
        f'ml_feature!="{SCORE_FEATURE}"',
        options.feature_threshold,
        options.min_count,
        "input {{ $labels.ml_feature }}",
        runbook,
    )
    text += _alert(
        "PredictionDrift",
        f'ml_feature="{SCORE_FEATURE}"',
        options.prediction_threshold,
        options.min_count,
        "the predicted score",
        runbook.replace("of the feature", "of the score and of the inputs that moved"),
    )
    return text


def _yaml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML flow scalar, always quoted


# ----------------------------------------------------------------------------------- test file


def shifted(feature: FeatureBuckets, steps: int) -> np.ndarray:
    """Shares with every value moved ``steps`` buckets (down if negative), piling up at the ends."""
    ref = np.asarray(feature.reference)
    out = np.zeros_like(ref)
    for i, share in enumerate(ref):
        out[min(max(i + steps, 0), len(ref) - 1)] += share
    return out


def more_of(feature: FeatureBuckets, category: str, share: float) -> np.ndarray:
    ref = np.asarray(feature.reference)
    index = feature.labels.index(category)
    out = ref * (1.0 - share) / (1.0 - ref[index])
    out[index] = share
    return out


def _fmt(value: float) -> str:
    return f"{value:.10g}"


def _series(name: str, instance: str, feature: str, bucket: str, version: str) -> str:
    labels = f'job="{JOB}", instance="{instance}", ml_feature="{feature}", ml_bucket="{bucket}", ml_model_version="{version}"'
    return f"{name}{{{labels}}}"


def _segments(rates: list[tuple[float, int]]) -> tuple[str, list[float]]:
    """promtool series notation for piecewise-constant per-minute rates, plus the values it expands to."""
    values, parts, value = [0.0], [], 0.0
    first = True
    for rate, minutes in rates:
        if first:
            parts.append(f"0+{_fmt(rate)}x{minutes}")
            first = False
        else:
            parts.append(f"{_fmt(value + rate)}+{_fmt(rate)}x{minutes - 1}")
        for _ in range(minutes):
            value += rate
            values.append(value)
    return " ".join(parts), values


def _feature_psi_check(window: str, feature: str, expected: float) -> dict[str, Any]:
    return {
        "expr": f'abs({psi_series(window)}{{ml_feature="{feature}"}} - {expected!r}) < bool 1e-6',
        "eval_time": None,  # filled by the caller
        "exp_samples": [{"labels": f'{{job="{JOB}", ml_feature="{feature}"}}', "value": 1}],
    }


def _annotations(name: str, feature: str, value: float, options: Options) -> dict[str, str]:
    text = f"{value:.2f}"
    assert abs(abs(value * 100 - round(value * 100)) - 0.5) > 1e-6, "PSI too close to a rounding tie for an exact annotation"
    prediction = name == "PredictionDrift"
    threshold = options.prediction_threshold if prediction else options.feature_threshold
    what = "the predicted score" if prediction else f"input {feature}"
    runbook = (
        "Model health dashboard: current vs reference buckets of the feature. Report: python -m service.drift "
        "--prometheus http://localhost:9090 --start -24h. Upstream change (units, defaults, a new channel) or a real "
        "population shift? If it persists, retrain on recent data."
    )
    if prediction:
        runbook = runbook.replace("of the feature", "of the score and of the inputs that moved")
    return {
        "summary": f"{JOB}: {what} drifted from the training data (PSI {text} over 1h)",
        "description": f"The last hour of {feature} differs from its training distribution: population stability index "
        f"above {threshold:g} for 30 minutes, over at least {options.min_count} predictions an hour.",
        "runbook": runbook,
        "dashboard": "/d/ml-model-health",
    }


def render_tests(reference: DriftReference, options: Options) -> str:
    version = reference.model_version
    features = reference.features
    name = "ml_feature_bucket_total"
    cases: list[dict[str, Any]] = []

    # 1. Two workers, each seeing only every other bucket, together exactly the reference:
    #    pooled PSI ~0, no alert. A rule taking shares per instance would page here.
    per_minute = 20.0
    series: list[dict[str, str]] = []
    for f in features:
        for i, (label, share) in enumerate(zip(f.labels, f.reference, strict=True)):
            for instance, parity in (("w1", 0), ("w2", 1)):
                rate = 2 * per_minute * share if i % 2 == parity else 0.0
                series.append({"series": _series(name, instance, f.name, label, version), "values": _segments([(rate, 120)])[0]})
    quiet = [
        {
            "expr": f"{psi_series(w)} < bool 0.001",
            "eval_time": "120m",
            "exp_samples": [{"labels": f'{{job="{JOB}", ml_feature="{f.name}"}}', "value": 1} for f in features],
        }
        for w in WINDOWS
    ]
    cases.append(
        {
            "name": "Reference-like traffic split unevenly over two workers: PSI ~0, no alert",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": "120m", "alertname": a, "exp_alerts": []} for a in ("FeatureDrift", "PredictionDrift")
            ],
            "promql_expr_test": quiet,
        }
    )

    # 2. Reference-like for an hour, then the drift scenario: incomes three deciles lower,
    #    small_business 30 % of loans, scores two deciles higher; everything else unchanged.
    #    Quiet until 30 minutes after the 1h PSI crosses the threshold, then firing for exactly
    #    the shifted inputs; PSI values equal the Python computation on the same counts.
    drifted = {
        "annual_income": shifted(reference.feature("annual_income"), -3),
        "purpose": more_of(reference.feature("purpose"), "small_business", 0.30),
        SCORE_FEATURE: shifted(reference.feature(SCORE_FEATURE), 2),
    }
    per_minute, before, after = 30.0, 60, 120
    series = []
    expected_1h: dict[str, float] = {}
    expected_24h: dict[str, float] = {}
    crossing: dict[str, int] = {}
    for f in features:
        new = drifted.get(f.name, np.asarray(f.reference))
        bucket_values = []
        for label, old_share, new_share in zip(f.labels, f.reference, new, strict=True):
            notation, values = _segments([(per_minute * old_share, before), (per_minute * new_share, after)])
            series.append({"series": _series(name, "w1", f.name, label, version), "values": notation})
            bucket_values.append(values)

        def psi_at(minute: int, window: int, f: FeatureBuckets = f, bucket_values: list[list[float]] = bucket_values) -> float:
            return psi(f.reference, [v[minute] - v[max(minute - window, 0)] for v in bucket_values])

        expected_1h[f.name] = psi_at(150, 60)
        expected_24h[f.name] = psi_at(150, 24 * 60)
        threshold = options.prediction_threshold if f.name == SCORE_FEATURE else options.feature_threshold
        crossing[f.name] = next((m for m in range(60, 181) if psi_at(m, 60) > threshold), NEVER)
    # The alerts wait 30 minutes after their PSI first exceeds the threshold: quiet 2 minutes before.
    if any(crossing[f] + 30 >= 150 for f in drifted) or any(crossing[f.name] != NEVER for f in features if f.name not in drifted):
        raise ValueError(f"test scenario does not separate drifted from stable features: {crossing}")
    inputs_cross = min(crossing[f] for f in drifted if f != SCORE_FEATURE)
    score_cross = crossing[SCORE_FEATURE]
    checks = []
    for window, expected in (("1h", expected_1h), ("24h", expected_24h)):
        for feature in drifted:
            check = _feature_psi_check(window, feature, expected[feature])
            check["eval_time"] = "150m"
            checks.append(check)
    firing_inputs = sorted(f for f in drifted if f != SCORE_FEATURE)
    cases.append(
        {
            "name": "Drift scenario: FeatureDrift for exactly the shifted inputs, PredictionDrift, after 30 minutes",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": f"{inputs_cross + 28}m", "alertname": "FeatureDrift", "exp_alerts": []},
                {"eval_time": f"{score_cross + 28}m", "alertname": "PredictionDrift", "exp_alerts": []},
                {
                    "eval_time": "150m",
                    "alertname": "FeatureDrift",
                    "exp_alerts": [
                        {
                            "exp_labels": {"job": JOB, "ml_feature": f, "severity": "warning", "component": "model"},
                            "exp_annotations": _annotations("FeatureDrift", f, expected_1h[f], options),
                        }
                        for f in firing_inputs
                    ],
                },
                {
                    "eval_time": "150m",
                    "alertname": "PredictionDrift",
                    "exp_alerts": [
                        {
                            "exp_labels": {"job": JOB, "ml_feature": SCORE_FEATURE, "severity": "warning", "component": "model"},
                            "exp_annotations": _annotations(
                                "PredictionDrift", SCORE_FEATURE, expected_1h[SCORE_FEATURE], options
                            ),
                        }
                    ],
                },
            ],
            "promql_expr_test": checks,
        }
    )

    # 3. The same drift at a trickle (fewer than --min-count predictions an hour): PSI is
    #    mostly sampling noise at that volume, so no page.
    trickle = (options.min_count - 50) / 60.0
    series = []
    for f in features:
        new = drifted.get(f.name, np.asarray(f.reference))
        for label, share in zip(f.labels, new, strict=True):
            series.append(
                {"series": _series(name, "w1", f.name, label, version), "values": _segments([(trickle * share, 180)])[0]}
            )
    cases.append(
        {
            "name": f"Drifted but under {options.min_count} predictions an hour: quiet",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": "150m", "alertname": a, "exp_alerts": []} for a in ("FeatureDrift", "PredictionDrift")
            ],
        }
    )

    header = (
        "# GENERATED by scripts/gen_drift_rules.py with drift.yml: do not edit (tests/config fails when stale).\n"
        "# promtool test rules collector-config/prometheus/tests/drift.test.yml\n"
        "#\n"
        "# Input series are the service's ml_feature_bucket_total, every bucket of every feature, with\n"
        "# the labels the collector's prometheus exporter produces. Expected PSI values are computed in\n"
        "# Python (service/drift/psi.py) from the same counts, so PromQL and the report must agree.\n"
    )
    document = {"rule_files": ["../rules/drift.yml"], "evaluation_interval": "1m", "tests": cases}
    return header + yaml.safe_dump(document, sort_keys=False, width=1_000, allow_unicode=True)


# ----------------------------------------------------------------------------------- command line


def generate(card: Path, options: Options) -> tuple[str, str]:
    reference = DriftReference.from_card(json.loads(card.read_text()))
    return render_rules(reference, options), render_tests(reference, options)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--card", type=Path, default=CARD)
    parser.add_argument(
        "--feature-threshold", type=float, default=Options.feature_threshold, help="FeatureDrift: PSI above this (0.2)"
    )
    parser.add_argument(
        "--prediction-threshold", type=float, default=Options.prediction_threshold, help="PredictionDrift: PSI above this (0.2)"
    )
    parser.add_argument(
        "--min-count", type=int, default=Options.min_count, help="alerts need this many predictions per hour (500)"
    )
    parser.add_argument("--check", action="store_true", help="compare with the committed files (options from their header)")
    return parser


def recorded_options(rules_text: str) -> Options:
    found = _OPTIONS_LINE.search(rules_text)
    args = _parser().parse_args(shlex.split(found[1]) if found else [])
    return Options(args.feature_threshold, args.prediction_threshold, args.min_count)


def stale_files(card: Path = CARD, rules: Path = RULES, tests: Path = TESTS) -> list[Path]:
    """Committed files that differ from what the card and their recorded options generate."""
    committed = rules.read_text() if rules.exists() else ""
    want_rules, want_tests = generate(card, recorded_options(committed))
    return [path for path, want in ((rules, want_rules), (tests, want_tests)) if not path.exists() or path.read_text() != want]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.check:
        stale = stale_files(args.card)
        for path in stale:
            print(f"stale: {path.relative_to(REPO_ROOT)} (run python scripts/gen_drift_rules.py)", file=sys.stderr)
        return 1 if stale else 0
    options = Options(args.feature_threshold, args.prediction_threshold, args.min_count)
    rules_text, tests_text = generate(args.card, options)
    RULES.write_text(rules_text)
    TESTS.write_text(tests_text)
    print(f"wrote {RULES.relative_to(REPO_ROOT)} and {TESTS.relative_to(REPO_ROOT)} ({shlex.join(options.argv())})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

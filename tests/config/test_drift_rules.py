"""The drift rules: generated from the model card, proven by promtool, and their tests catch breakage.

The rules file and its promtool tests are generated (scripts/gen_drift_rules.py). Here: the
committed files are exactly what the card produces; a changed card is noticed; the threshold
option really changes the alert; and every mutation of a drift rule fails the generated tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from scripts import gen_drift_rules as gen
from tests.config.drift_mutations import DRIFT_MUTATIONS
from tests.config.exprs import PROMETHEUS_DIR
from tests.config.mutations import Mutation, apply_mutation, exercises


def _promtool_test(promtool: str, test_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "test", "rules", str(test_file)], capture_output=True, text=True, cwd=test_file.parent.parent, check=False
    )


def test_committed_drift_rules_match_the_model_card() -> None:
    assert gen.stale_files() == [], "run: python scripts/gen_drift_rules.py"


def test_a_changed_card_makes_the_committed_rules_stale(tmp_path: Path) -> None:
    card = json.loads(gen.CARD.read_text())
    shares = card["reference_statistics"]["numeric"]["age"]["bucket_shares"]
    shares[0], shares[1] = shares[1], shares[0]
    changed = tmp_path / "model_card.json"
    changed.write_text(json.dumps(card))
    assert gen.stale_files(card=changed) == [gen.RULES, gen.TESTS]


def test_reference_series_are_the_cards_bucket_shares() -> None:
    card = json.loads(gen.CARD.read_text())
    groups = {g["name"]: g for g in yaml.safe_load(gen.RULES.read_text())["groups"]}
    recorded = {
        (r["labels"]["ml_feature"], r["labels"]["ml_bucket"]): float(r["expr"][len("vector(") : -1])
        for r in groups["ml-drift.reference"]["rules"]
    }
    stats = card["reference_statistics"]
    assert recorded[("age", "q00")] == stats["numeric"]["age"]["bucket_shares"][0]
    assert recorded[("purpose", "small_business")] == stats["categorical"]["purpose"]["small_business"]
    assert recorded[("score", "q09")] == stats["score"]["bucket_shares"][9]
    assert recorded[("purpose", "unseen")] == 0.0
    # Empty decile intervals (equal edges) are not series: delinquencies_2y has edges 0 x8, 1.
    assert sorted(b for f, b in recorded if f == "delinquencies_2y") == ["q00", "q08", "q09"]
    for feature in {f for f, _ in recorded}:
        assert sum(v for (f, _), v in recorded.items() if f == feature) == pytest.approx(1.0, abs=1e-5)


def test_thresholds_are_options_and_the_generated_tests_follow(promtool: str, tmp_path: Path) -> None:
    options = gen.Options(feature_threshold=0.35, prediction_threshold=0.25, min_count=200)
    rules_text, tests_text = gen.generate(gen.CARD, options)
    assert 'psi1h{ml_feature!="score"} > 0.35' in rules_text and 'psi1h{ml_feature="score"} > 0.25' in rules_text
    assert "increase1h >= 200" in rules_text
    assert gen.recorded_options(rules_text) == options
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "rules" / "drift.yml").write_text(rules_text)
    (tmp_path / "tests" / "drift.test.yml").write_text(tests_text)
    result = _promtool_test(promtool, tmp_path / "tests" / "drift.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def _prepare(copy: Path, mutation: Mutation) -> Path:
    """A copy of the Prometheus config with ``mutation`` applied, keeping the drift cases that exercise its rule."""
    shutil.copytree(PROMETHEUS_DIR, copy)
    apply_mutation(copy / "rules", mutation)
    test_file = copy / "tests" / "drift.test.yml"
    doc = yaml.safe_load(test_file.read_text())
    doc["tests"] = [case for case in doc["tests"] if exercises(case, mutation.tested_rule)]
    test_file.write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
    return test_file


@pytest.fixture(scope="module")
def mutation_runs(promtool: str, tmp_path_factory: pytest.TempPathFactory) -> list[subprocess.CompletedProcess[str]]:
    """promtool on the drift cases that exercise each mutated rule, in parallel (promtool mostly waits)."""
    root = tmp_path_factory.mktemp("drift-mutations")
    files = [_prepare(root / f"m{i:02d}", m) for i, m in enumerate(DRIFT_MUTATIONS)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda f: _promtool_test(promtool, f), files))


@pytest.mark.parametrize("index", range(len(DRIFT_MUTATIONS)), ids=[f"{m.rule}:{m.breaks}:{m.new[:30]}" for m in DRIFT_MUTATIONS])
def test_drift_tests_catch_a_broken_rule(mutation_runs: list[subprocess.CompletedProcess[str]], index: int) -> None:
    mutation = DRIFT_MUTATIONS[index]
    cases = yaml.safe_load(gen.TESTS.read_text())["tests"]
    assert any(exercises(case, mutation.tested_rule) for case in cases), f"no drift case checks {mutation.tested_rule}"
    # (Unmutated, the whole file passes: tests/config/test_prometheus_rules.py runs every test file.)
    assert mutation_runs[index].returncode != 0, f"no drift test failed after changing {mutation.old!r} to {mutation.new!r}"


@pytest.mark.parametrize("alert", ["FeatureDrift", "PredictionDrift"])
def test_each_drift_alert_is_mutated_both_ways(alert: str) -> None:
    assert {m.breaks for m in DRIFT_MUTATIONS if m.rule == alert} == {"fires", "quiet"}

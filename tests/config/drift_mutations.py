"""Mutations of the generated drift rules (collector-config/prometheus/rules/drift.yml).

Each breaks one drift rule the way a careless edit (or a wrong generator) would; the generated
promtool tests (tests/drift.test.yml) must notice. Kept apart so the rules' mutation list can
include them: ``MUTATIONS = [..., *DRIFT_MUTATIONS]``; tests/config/test_drift_rules.py runs them.
"""

from __future__ import annotations

from tests.config.mutations import Mutation

PSI_1H = "job_ml_feature:ml_feature_bucket:psi1h"
PSI_24H = "job_ml_feature:ml_feature_bucket:psi24h"

DRIFT_MUTATIONS = [
    Mutation("FeatureDrift", '{ml_feature!="score"} > 0.2', '{ml_feature!="score"} > 2', "fires"),
    Mutation("FeatureDrift", "increase1h >= 500", "increase1h >= 0", "quiet"),
    Mutation("FeatureDrift", "for: 30m", "for: 0s", "quiet"),
    Mutation("FeatureDrift", '{ml_feature!="score"}', "", "quiet"),
    Mutation("PredictionDrift", '{ml_feature="score"} > 0.2', '{ml_feature="score"} > 2', "fires"),
    Mutation("PredictionDrift", "increase1h >= 500", "increase1h >= 0", "quiet"),
    # Shares per instance instead of per job: two workers each seeing half look drifted.
    Mutation(
        "job_ml_feature_ml_bucket:ml_feature_bucket:increase1h",
        "sum by (job, ml_feature, ml_bucket)",
        "sum by (job, instance, ml_feature, ml_bucket)",
        "quiet",
        via=PSI_1H,
    ),
    Mutation(
        "job_ml_feature_ml_bucket:ml_feature_bucket:increase1h",
        'ml_model_version=~"1\\\\.0\\\\.0|"',
        'ml_model_version="0.0.0"',
        "fires",
        via=PSI_1H,
    ),
    Mutation(
        "job_ml_feature_ml_bucket:ml_feature_bucket:ratio1h",
        "(job_ml_feature:ml_feature_bucket:increase1h > 0)",
        "(job_ml_feature:ml_feature_bucket:increase1h > 0) * 2",
        "fires",
        via=PSI_1H,
    ),
    Mutation(
        PSI_1H,
        "ln(clamp_min(job_ml_feature_ml_bucket:ml_feature_bucket:ratio1h, 0.0001))",
        "ln(clamp_min(job_ml_feature_ml_bucket:ml_feature_bucket:ratio1h, 0.01))",
        "fires",
    ),
    Mutation("job_ml_feature_ml_bucket:ml_feature_bucket:increase24h", "[24h]", "[1h]", "fires", via=PSI_24H),
    # The first reference series (age, q00): a wrong reference share reads as drift.
    Mutation(
        "ml_feature_ml_bucket:ml_feature_bucket:reference_ratio", "expr: vector(", "expr: vector(0.4 + ", "quiet", via=PSI_1H
    ),
]

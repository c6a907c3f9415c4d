"""Which s3:// URIs of a user's spec the operator reads with its own keys (core.uri_policy)."""

from __future__ import annotations

import pytest

from pace.api.drift_monitor import DriftMonitorSpec
from pace.api.mlmodel import MLModelSpec
from pace.api.retrain_policy import RetrainPolicySpec
from pace.config import OperatorConfig
from pace.core import uri_policy

POLICY = uri_policy.ReadPolicy("pace", frozenset({"datasets"}))


@pytest.mark.parametrize(
    "uri",
    [
        "s3://pace/incoming/wine.csv",
        "s3://datasets/wine/2026/11/rows.parquet",
        "s3://pace/inference-logs/team-a/wine/",
        "s3://pace/models/team-a/wine/0a1b2c3d/versions/v1/reference.parquet",
        "sklearn://wine",
        None,
    ],
)
def test_own_bucket_listed_buckets_and_own_namespace_data_are_read(uri: str | None) -> None:
    assert POLICY.problem(uri, namespace="team-a") is None


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "s3://payroll/2026.csv",
            "bucket 'payroll' is not one PACE reads for users (allowed: datasets, pace;",
        ),
        (
            "s3://pace/inference-logs/team-b/wine/",
            "is in PACE's inference-logs/ data of namespace 'team-b'; an object of namespace "
            "'team-a' may read only inference-logs/team-a/",
        ),
        ("s3://pace/models/team-b/x/v1/model.joblib", "models/ data of namespace 'team-b'"),
        ("s3://pace/audit/team-b/", "audit/ data of namespace 'team-b'"),
        ("s3://pace/audit/", "audit/ data of every namespace"),
        ("s3://pace/inference-logs-dead-letter/team-b/m/", "inference-logs-dead-letter/"),
    ],
)
def test_other_buckets_and_other_namespaces_data_are_refused(uri: str, message: str) -> None:
    problem = POLICY.problem(uri, namespace="team-a")
    assert problem is not None
    assert message in problem


def test_each_kind_names_the_field_that_holds_the_uri() -> None:
    model = MLModelSpec.model_validate(
        {
            "task": "classification",
            "dataset": {
                "uri": "s3://payroll/x.csv",
                "target": "t",
                "recent": {"source": "s3://pace/inference-logs/team-b/", "window": {"rows": 50}},
            },
        }
    )
    assert [p for p, _ in uri_policy.mlmodel_problems(model, "team-a", POLICY)] == [
        "spec.dataset.uri",
        "spec.dataset.recent.source",
    ]
    monitor = DriftMonitorSpec.model_validate(
        {
            "modelRef": {"name": "m"},
            "reference": {"uri": "s3://payroll/ref.parquet"},
            "source": {"uri": "s3://pace/inference-logs/team-a/m/"},
        }
    )
    assert [p for p, _ in uri_policy.drift_monitor_problems(monitor, "team-a", POLICY)] == [
        "spec.reference.uri"
    ]
    policy = RetrainPolicySpec.model_validate(
        {"modelRef": {"name": "m"}, "triggers": {"newData": {"prefix": "s3://payroll/in/"}}}
    )
    assert uri_policy.retrain_policy_problems(policy, "team-a", POLICY)[0][0] == (
        "spec.triggers.newData.prefix"
    )


def test_the_configuration_lists_the_other_buckets() -> None:
    config = OperatorConfig.from_env({"PACE_S3_READ_BUCKETS": "datasets, shared.data"})
    assert config.read_policy == uri_policy.ReadPolicy(
        "pace", frozenset({"datasets", "shared.data"})
    )
    assert OperatorConfig.from_env({}).read_policy.other_buckets == frozenset()
    with pytest.raises(ValueError, match="PACE_S3_READ_BUCKETS: 'Bad_Bucket' is not an S3"):
        OperatorConfig.from_env({"PACE_S3_READ_BUCKETS": "Bad_Bucket"})

"""Scoped serving credentials (pure parts): user names within MinIO's limits, the read-only
policy of one namespace's prefix, the derived key, the Secret in Seldon's rclone format; and
the operator writing that Secret before the SeldonDeployment that names it."""

import asyncio
import re
import types
from datetime import UTC, datetime
from typing import Any

import pytest

from pace.api.mlmodel import MLModel, VersionRecord
from pace.config import OperatorConfig
from pace.core import rollout, serving_credentials
from pace.handlers import mlmodel_rollout

OPERATOR_SECRET = "operator-secret-key-0123456789"


@pytest.mark.parametrize(
    ("namespace", "user"),
    [
        ("a", "pace-serve-a"),
        ("team-a", "pace-serve-team-a"),
        ("ninechars", "pace-serve-ninechars"),  # 20 characters: still readable
    ],
)
def test_short_namespaces_name_their_user_readably(namespace: str, user: str) -> None:
    assert serving_credentials.user_name(namespace) == user
    assert serving_credentials.policy_name(namespace) == user


def test_long_namespaces_get_a_hashed_name_of_a_prefix_no_readable_name_has() -> None:
    names = {serving_credentials.user_name(ns) for ns in ("tenchars-x", "a" * 63, "team-b-prod")}
    assert len(names) == 3
    for name in names:
        assert re.fullmatch(r"pace-sh-[0-9a-f]{12}", name), name
        assert len(name) == serving_credentials.ACCESS_KEY_MAX
    # Deterministic: a restarted operator names the same user.
    assert serving_credentials.user_name("a" * 63) == serving_credentials.user_name("a" * 63)


@pytest.mark.parametrize("bad", ["", "Team", "a_b", "a/b", "a,b", "a=b", "-a", "a" * 64])
def test_a_bad_namespace_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        serving_credentials.user_name(bad)
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        serving_credentials.read_policy("pace", bad)


def test_the_policy_reads_and_lists_one_namespaces_models_only() -> None:
    policy = serving_credentials.read_policy("pace", "team-a")
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": ["arn:aws:s3:::pace/models/team-a/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": ["arn:aws:s3:::pace"],
                "Condition": {"StringLike": {"s3:prefix": ["models/team-a/*"]}},
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation"],
                "Resource": ["arn:aws:s3:::pace"],
            },
        ],
    }
    # Allow statements only, no write action, and the prefix ends at the namespace's slash
    # (team-a never reaches team-ab).
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"}
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])


@pytest.mark.parametrize("bucket", ["", "Pace", "a/b", "*", "pace/models"])
def test_a_bad_bucket_is_named(bucket: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(bucket))):
        serving_credentials.read_policy(bucket, "team-a")


def test_the_key_is_derived_per_namespace_and_never_shown() -> None:
    key = serving_credentials.derive_key(OPERATOR_SECRET, "team-a")
    assert key == serving_credentials.derive_key(OPERATOR_SECRET, "team-a")  # a restart
    assert key.access_key == "pace-serve-team-a"
    assert re.fullmatch(r"[0-9a-f]{40}", key.secret_key)  # MinIO takes 8-40 characters
    assert key.secret_key != serving_credentials.derive_key(OPERATOR_SECRET, "team-b").secret_key
    rotated = serving_credentials.derive_key(OPERATOR_SECRET + "x", "team-a")
    assert rotated.secret_key != key.secret_key
    assert OPERATOR_SECRET not in key.secret_key
    assert key.secret_key not in repr(key)
    with pytest.raises(ValueError, match="operator's secret key"):
        serving_credentials.derive_key("", "team-a")


def test_the_secret_is_what_seldons_rclone_storage_initializer_reads() -> None:
    key = serving_credentials.derive_key(OPERATOR_SECRET, "team-a")
    data = serving_credentials.secret_data(key, endpoint="minio.storage:9000", secure=False)
    assert data == {
        "RCLONE_CONFIG_S3_TYPE": "s3",
        "RCLONE_CONFIG_S3_PROVIDER": "Minio",
        "RCLONE_CONFIG_S3_ENV_AUTH": "false",
        "RCLONE_CONFIG_S3_ENDPOINT": "http://minio.storage:9000",
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": "pace-serve-team-a",
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": key.secret_key,
    }
    secure = serving_credentials.secret_data(key, endpoint="s3.example:443", secure=True)
    assert secure["RCLONE_CONFIG_S3_ENDPOINT"] == "https://s3.example:443"


# --- the operator: the Secret first, then the SeldonDeployment that names it ----------------

MODEL = MLModel.model_validate(
    {
        "name": "wine",
        "namespace": "team-a",
        "uid": "u-1",
        "generation": 1,
        "spec": {
            "task": "classification",
            "dataset": {"uri": "sklearn://wine", "target": "target"},
        },
    }
)
V1 = VersionRecord(
    version="v1",
    stage="production",
    artifact_uri="s3://pace/models/team-a/wine/u-1/versions/v1/model.joblib",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


class Recorder:
    """Stands in for the store's admin API and the Kubernetes API; records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def ensure_reader(self, user: str, secret_key: str, **kwargs: Any) -> None:
        self.calls.append(("user", (user, secret_key, kwargs)))

    def apply_secret(self, namespace: str, name: str, data: dict[str, str], **kw: Any) -> None:
        self.calls.append(("secret", (namespace, name, data, kw)))

    def apply_object(self, group: str, version: str, plural: str, body: Any) -> Any:
        self.calls.append(("object", (plural, body)))
        return body


def _memo(recorder: Recorder, *, scoped: bool) -> types.SimpleNamespace:
    s3 = types.SimpleNamespace(
        endpoint="minio.storage:9000", bucket="pace", secret_key=OPERATOR_SECRET, secure=False
    )
    return types.SimpleNamespace(
        config=OperatorConfig(serving_credentials="scoped" if scoped else "shared"),
        s3=s3,
        kube=recorder,
        store_users=recorder if scoped else None,
        sink_key=None,
    )


def test_the_operator_writes_the_scoped_secret_before_the_seldondeployment() -> None:
    recorder = Recorder()
    result = rollout.RolloutStatus(
        versions=[V1], serving_version="v1", candidate_version=None, canary=None
    )
    asyncio.run(mlmodel_rollout.apply_deployment(MODEL, result, _memo(recorder, scoped=True)))
    assert [kind for kind, _ in recorder.calls] == ["user", "secret", "object"]
    key = serving_credentials.derive_key(OPERATOR_SECRET, "team-a")
    user, secret_key, policy = recorder.calls[0][1]
    assert (user, secret_key) == (key.access_key, key.secret_key)
    assert policy == {
        "policy_name": "pace-serve-team-a",
        "policy": serving_credentials.read_policy("pace", "team-a"),
    }
    namespace, name, data, extra = recorder.calls[1][1]
    assert (namespace, name) == ("team-a", "pace-serving")
    assert data["RCLONE_CONFIG_S3_SECRET_ACCESS_KEY"] == key.secret_key
    assert extra == {"labels": {"app.kubernetes.io/managed-by": "pace-operator"}}
    sdep = recorder.calls[2][1][1]
    assert sdep["spec"]["predictors"][0]["graph"]["envSecretRefName"] == "pace-serving"
    assert key.secret_key not in repr(sdep)


def test_with_shared_credentials_the_operator_writes_no_secret_and_makes_no_user() -> None:
    recorder = Recorder()
    result = rollout.RolloutStatus(
        versions=[V1], serving_version="v1", candidate_version=None, canary=None
    )
    asyncio.run(mlmodel_rollout.apply_deployment(MODEL, result, _memo(recorder, scoped=False)))
    assert [kind for kind, _ in recorder.calls] == ["object"]
    sdep = recorder.calls[0][1][1]
    assert sdep["spec"]["predictors"][0]["graph"]["envSecretRefName"] == "pace-serving"

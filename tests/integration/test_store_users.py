"""Scoped serving keys against a real MinIO: a namespace's key reads and lists its own models
and nothing else, and writes nothing (so no tenant key writes the audit log); ensuring it
again changes nothing and gives the same key; a key that is not an admin's is refused by
name, without the key in the message."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from minio import Minio
from minio.error import S3Error

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.adapters.store_users import StoreUserError, StoreUsers
from pace.core import serving_credentials


def _users(settings: S3Settings) -> StoreUsers:
    return StoreUsers(
        endpoint=settings.endpoint,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        secure=settings.secure,
    )


def _ensure(
    users: StoreUsers, settings: S3Settings, namespace: str
) -> serving_credentials.ServingKey:
    """What the operator does for a namespace (`pace.handlers.serving_access`)."""
    key = serving_credentials.derive_key(settings.secret_key, namespace)
    users.ensure_reader(
        key.access_key,
        key.secret_key,
        policy_name=serving_credentials.policy_name(namespace),
        policy=serving_credentials.read_policy(settings.bucket, namespace),
    )
    return key


def _client(settings: S3Settings, key: serving_credentials.ServingKey) -> Minio:
    return Minio(
        settings.endpoint,
        access_key=key.access_key,
        secret_key=key.secret_key,
        secure=settings.secure,
    )


def _refused(call: Callable[[], Any]) -> str:
    """The S3 error code of a call that must fail."""
    with pytest.raises(S3Error) as caught:
        call()
    return str(caught.value.code)


def test_a_namespaces_serving_key_reads_its_models_only_and_writes_nothing(
    store: ObjectStore, s3_settings: S3Settings
) -> None:
    a = f"t-{uuid.uuid4().hex[:6]}"
    b = f"{a}b"  # shares a's name as a prefix: the policy ends at a's slash
    model_a = f"models/{a}/wine/u1/versions/v1/model.joblib"
    model_b = f"models/{b}/wine/u1/versions/v1/model.joblib"
    audit_a = f"audit/{a}/wine/00000001-TrainingStarted.json"
    for key in (model_a, model_b, audit_a):
        store.put(key, b"original")
    users = _users(s3_settings)
    key = _ensure(users, s3_settings, a)
    reader = _client(s3_settings, key)
    bucket = s3_settings.bucket

    # Reads its own namespace's models, and lists their folder (what rclone copy does).
    assert reader.get_object(bucket, model_a).read() == b"original"
    folder = f"models/{a}/wine/u1/versions/v1/"
    assert [o.object_name for o in reader.list_objects(bucket, prefix=folder)] == [model_a]
    listed = reader.list_objects(bucket, prefix=f"models/{a}/", recursive=True)
    assert [o.object_name for o in listed] == [model_a]

    # Nothing of another namespace, the audit log, or the bucket as a whole.
    assert _refused(lambda: reader.get_object(bucket, model_b)) == "AccessDenied"
    assert _refused(lambda: reader.get_object(bucket, audit_a)) == "AccessDenied"
    assert _refused(lambda: reader.stat_object(bucket, model_b)) in ("AccessDenied", "Forbidden")
    for prefix in ("", "models/", f"models/{b}/", f"audit/{a}/", "audit/"):
        assert _refused(lambda p=prefix: list(reader.list_objects(bucket, prefix=p))) == (
            "AccessDenied"
        ), prefix
    # MinIO lists the buckets a user has any right on: this one (names only), no other.
    assert {b.name for b in reader.list_buckets()} <= {bucket}

    # Writes nothing: not the audit log (new or existing keys), not its own models.
    for target in (audit_a, f"audit/{a}/wine/00000002-Forged.json", model_a, f"models/{a}/x"):
        code = _refused(
            lambda t=target: reader.put_object(bucket, t, io.BytesIO(b"forged"), len(b"forged"))
        )
        assert code == "AccessDenied", target
    for target in (model_a, audit_a):
        assert _refused(lambda t=target: reader.remove_object(bucket, t)) == "AccessDenied"
    for target in (model_a, model_b, audit_a):
        assert store.get(target) == b"original", target  # all still there, unchanged


def test_ensuring_again_is_idempotent_same_key_and_one_policy(
    store: ObjectStore, s3_settings: S3Settings
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:6]}"
    model = f"models/{namespace}/m/versions/v1/model.joblib"
    store.put(model, b"model")
    users = _users(s3_settings)
    first = _ensure(users, s3_settings, namespace)
    # Someone widened the user meanwhile: the next ensure puts it back to its one policy.
    users.admin.attach_policy(["readwrite"], user=first.access_key)
    second = _ensure(users, s3_settings, namespace)
    assert second == first  # same user, same derived key: a restarted operator agrees
    assert users.policies_of(first.access_key) == [serving_credentials.policy_name(namespace)]
    reader = _client(s3_settings, second)
    assert reader.get_object(s3_settings.bucket, model).read() == b"model"
    code = _refused(lambda: reader.put_object(s3_settings.bucket, model, io.BytesIO(b"x"), 1))
    assert code == "AccessDenied"


def test_removing_a_reader_takes_its_key_and_policy_away_and_can_repeat(
    store: ObjectStore, s3_settings: S3Settings
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:6]}"
    model = f"models/{namespace}/m/versions/v1/model.joblib"
    store.put(model, b"model")
    users = _users(s3_settings)
    key = _ensure(users, s3_settings, namespace)
    assert _client(s3_settings, key).get_object(s3_settings.bucket, model).read() == b"model"
    policy = serving_credentials.policy_name(namespace)
    users.remove_reader(key.access_key, policy_name=policy)
    code = _refused(lambda: _client(s3_settings, key).get_object(s3_settings.bucket, model))
    assert code == "InvalidAccessKeyId"
    with pytest.raises(StoreUserError, match=key.access_key):
        users.policies_of(key.access_key)
    assert policy not in json.loads(users.admin.policy_list())
    users.remove_reader(key.access_key, policy_name=policy)  # already gone: fine
    assert store.get(model) == b"model"  # the models stay


def test_a_long_namespace_gets_a_hashed_user_minio_takes(
    store: ObjectStore, s3_settings: S3Settings
) -> None:
    namespace = f"a-rather-long-team-namespace-{uuid.uuid4().hex[:8]}"
    model = f"models/{namespace}/m/versions/v1/model.joblib"
    store.put(model, b"model")
    key = _ensure(_users(s3_settings), s3_settings, namespace)
    assert key.access_key.startswith(serving_credentials.HASHED_PREFIX)
    assert len(key.access_key) == 20
    assert _client(s3_settings, key).get_object(s3_settings.bucket, model).read() == b"model"


def test_keys_without_admin_rights_are_refused_by_name_without_the_key(
    store: ObjectStore, s3_settings: S3Settings
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:6]}"
    tenant = _ensure(_users(s3_settings), s3_settings, namespace)
    as_tenant = StoreUsers(
        endpoint=s3_settings.endpoint,
        access_key=tenant.access_key,
        secret_key=tenant.secret_key,
        secure=s3_settings.secure,
    )
    other = serving_credentials.derive_key(s3_settings.secret_key, f"{namespace}-x")
    with pytest.raises(StoreUserError) as caught:
        as_tenant.ensure_reader(
            other.access_key,
            other.secret_key,
            policy_name=other.access_key,
            policy=serving_credentials.read_policy(s3_settings.bucket, namespace),
        )
    message = str(caught.value)
    assert f"MinIO policy {other.access_key!r}" in message
    assert "AccessDenied" in message
    assert "PACE_SERVING_CREDENTIALS=shared" in message
    for secret in (tenant.secret_key, other.secret_key, s3_settings.secret_key):
        assert secret not in message

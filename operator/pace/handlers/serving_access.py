"""The Secret a model's predictors read its artifacts with, ready before the
SeldonDeployment that names it (`pace.handlers.mlmodel_rollout.apply_deployment`).

With scoped serving credentials, the namespace's read-only store user is ensured
(`pace.adapters.store_users`) and its key written to the Secret ``PACE_SERVING_SECRET`` in the
model's namespace, in the format Seldon's storage initializer reads
(`pace.core.serving_credentials`). Each call does both again: idempotent, and a Secret someone
deleted or changed is put back at the next rollout step. The key is never logged.

When the namespace's last MLModel is deleted, `release` removes that user, its policy and the
Secret: no reader key outlives the models it was made for.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pace.adapters import store_users
from pace.core import serving_credentials


def _ensure(memo: Any, users: store_users.StoreUsers, namespace: str) -> None:
    settings = memo.s3
    key = serving_credentials.derive_key(settings.secret_key, namespace)
    users.ensure_reader(
        key.access_key,
        key.secret_key,
        policy_name=serving_credentials.policy_name(namespace),
        policy=serving_credentials.read_policy(settings.bucket, namespace),
    )
    memo.kube.apply_secret(
        namespace,
        memo.config.serving_secret,
        serving_credentials.secret_data(key, endpoint=settings.endpoint, secure=settings.secure),
        labels=serving_credentials.secret_labels(),
    )


async def secret_for(memo: Any, namespace: str) -> str:
    """The name of the Secret the namespace's predictors read models with; with scoped
    credentials (the startup made ``memo.store_users``), made ready first."""
    users = getattr(memo, "store_users", None)
    if users is not None:
        await asyncio.to_thread(_ensure, memo, users, namespace)
    return str(memo.config.serving_secret)


def _release(memo: Any, users: store_users.StoreUsers, namespace: str) -> bool:
    key = serving_credentials.derive_key(memo.s3.secret_key, namespace)
    users.remove_reader(key.access_key, policy_name=serving_credentials.policy_name(namespace))
    return bool(memo.kube.delete_secret(namespace, memo.config.serving_secret))


async def release(memo: Any, namespace: str) -> bool:
    """Remove the namespace's read-only store user, its policy and its Secret (scoped
    credentials only; with shared ones the Secret is the user's). True if a Secret went."""
    users = getattr(memo, "store_users", None)
    if users is None:
        return False
    return await asyncio.to_thread(_release, memo, users, namespace)

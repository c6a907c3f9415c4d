"""Per-namespace serving credentials: the object-store user a namespace's predictors read
their models with, its read-only policy, its key and the Secret Seldon reads it from (pure).

With ``PACE_SERVING_CREDENTIALS=scoped`` (the default) every namespace that serves a model
gets its own store user, allowed ``s3:GetObject`` on ``models/<namespace>/*`` and a listing
of that prefix only (Seldon's storage initializer, ``rclone copy``, lists the model folder
before it downloads it), plus the bucket's region (``s3:GetBucketLocation``, which S3
clients ask first). It can write nothing: not the audit log, not another namespace's
models, not its own. Its secret key is derived, HMAC-SHA256 of the namespace under the
operator's own secret key, so the operator never reads it back and a restarted operator
computes the same key. `pace.adapters.store_users` creates the user and its policy;
`pace.handlers.serving_access` writes the Secret (``secret_data``) before the
SeldonDeployment that names it. With ``shared``, PACE writes nothing and the Secret named
by ``PACE_SERVING_SECRET`` must be provided in each model's namespace.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

from pace.api import constants
from pace.core import naming

SCOPED, SHARED = "scoped", "shared"
MODES = (SCOPED, SHARED)

# MinIO refuses access keys outside 3-20 characters and secret keys outside 8-40 (its
# XMinioAdminInvalidAccessKey / InvalidSecretKey messages; newer servers take longer ones,
# older ones and other S3 stores may not), so names and keys stay within those limits.
ACCESS_KEY_MAX = 20
SECRET_KEY_LENGTH = 40
USER_PREFIX = "pace-serve-"  # pace-serve-<namespace> when it fits
HASHED_PREFIX = "pace-sh-"  # pace-sh-<12 hex of sha256(namespace)> when it does not
# Seldon Core 1's storage initializer is rclone: a modelUri s3://bucket/key names the
# remote `s3`, configured by RCLONE_CONFIG_S3_* variables from the envSecretRefName Secret.
RCLONE_REMOTE = "S3"

_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_KEY_CONTEXT = b"pace serving key\x00"


@dataclass(frozen=True)
class ServingKey:
    """One namespace's store user and its secret key (never in a repr)."""

    access_key: str
    secret_key: str = field(repr=False)


def _checked_namespace(namespace: str) -> str:
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError(f"namespace {namespace!r} is not a Kubernetes namespace name")
    return namespace


def user_name(namespace: str) -> str:
    """The store user (access key) of a namespace's predictors: ``pace-serve-<namespace>``
    when it fits MinIO's 20 characters, else ``pace-sh-`` and 12 hex digits of the
    namespace's SHA-256 (a distinct prefix, so the two forms never name the same user)."""
    readable = USER_PREFIX + _checked_namespace(namespace)
    if len(readable) <= ACCESS_KEY_MAX:
        return readable
    digest = hashlib.sha256(namespace.encode()).hexdigest()
    return HASHED_PREFIX + digest[: ACCESS_KEY_MAX - len(HASHED_PREFIX)]


def policy_name(namespace: str) -> str:
    """The store policy of that user (named like it)."""
    return user_name(namespace)


def read_policy(bucket: str, namespace: str) -> dict[str, Any]:
    """The IAM policy of a namespace's serving user: read and list ``models/<namespace>/``
    of ``bucket`` (and ask the bucket's region), nothing else."""
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"bucket {bucket!r} is not an S3 bucket name")
    prefix = naming.namespace_models_prefix(_checked_namespace(namespace))
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            },
            {  # the bucket's region: S3 clients (minio-py, mc) ask it before the first read
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
        ],
    }


def derive_key(operator_secret_key: str, namespace: str) -> ServingKey:
    """The namespace's serving key: its user name and HMAC-SHA256(operator's secret key,
    namespace) as 40 hex digits. The same inputs give the same key (a restart, a second
    ensure); another namespace, or a rotated operator key, gives another."""
    if not operator_secret_key:
        raise ValueError("scoped serving keys are derived from the operator's secret key: none")
    digest = hmac.new(
        operator_secret_key.encode(),
        _KEY_CONTEXT + _checked_namespace(namespace).encode(),
        hashlib.sha256,
    ).hexdigest()
    return ServingKey(user_name(namespace), digest[:SECRET_KEY_LENGTH])


def endpoint_url(endpoint: str, *, secure: bool) -> str:
    """The S3 endpoint as a URL (rclone's ``endpoint``), from ``host:port``."""
    return f"{'https' if secure else 'http'}://{endpoint}"


def secret_data(key: ServingKey, *, endpoint: str, secure: bool) -> dict[str, str]:
    """The Secret's data as Seldon Core 1's rclone storage initializer reads it (each entry
    becomes an environment variable of the init container, ``envFrom``)."""
    remote = f"RCLONE_CONFIG_{RCLONE_REMOTE}_"
    return {
        f"{remote}TYPE": "s3",
        f"{remote}PROVIDER": "Minio",
        f"{remote}ENV_AUTH": "false",
        f"{remote}ENDPOINT": endpoint_url(endpoint, secure=secure),
        f"{remote}ACCESS_KEY_ID": key.access_key,
        f"{remote}SECRET_ACCESS_KEY": key.secret_key,
    }


def secret_labels() -> dict[str, str]:
    """Labels on the serving Secret PACE writes."""
    return {constants.LABEL_MANAGED_BY: constants.MANAGER_NAME}

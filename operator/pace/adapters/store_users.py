"""MinIO's admin API: the store users and policies of scoped serving keys (the only admin-API
code).

`pace.handlers.serving_access` calls `StoreUsers.ensure_reader` before each SeldonDeployment
it writes, with the user, key and policy `pace.core.serving_credentials` derives. It needs the
operator's keys to be allowed MinIO's ``admin:CreatePolicy``, ``admin:CreateUser`` and
``admin:AttachUserOrGroupPolicy`` (the root user is). The secret key travels encrypted (the
admin API's own encryption) and is never put in an error, a log line or a repr.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException
from minio.minioadmin import MinioAdmin

NEEDED = (
    "admin:CreatePolicy, admin:CreateUser and admin:AttachUserOrGroupPolicy (and, to remove a "
    "namespace's reader with its last model, admin:DeleteUser and admin:DeletePolicy)"
)


class StoreUserError(RuntimeError):
    """The store refused to create or update a user or policy; the message names which and
    why (never a key)."""


def _reason(exc: MinioAdminException) -> str:
    """``Code: Message`` of a refused admin request (the body MinIO sends back)."""
    body = getattr(exc, "_body", "")
    status = getattr(exc, "_code", "?")
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return f"HTTP {status}"
    if not isinstance(parsed, dict):
        return f"HTTP {status}"
    return f"{parsed.get('Code', f'HTTP {status}')}: {parsed.get('Message', '')}".rstrip(": ")


class StoreUsers:
    """Users and policies of one MinIO deployment, managed with the operator's keys."""

    def __init__(
        self, *, endpoint: str, access_key: str, secret_key: str, secure: bool = False
    ) -> None:
        self.endpoint = endpoint
        self.admin = MinioAdmin(
            endpoint=endpoint,
            credentials=StaticProvider(access_key, secret_key),
            secure=secure,
        )

    def __repr__(self) -> str:
        return f"StoreUsers({self.endpoint!r})"

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> None:
        try:
            call(*args, **kwargs)
        except MinioAdminException as exc:
            reason = _reason(exc)
            hint = ""
            if "AccessDenied" in reason or getattr(exc, "_code", "") == "403":
                hint = (
                    f" (scoped serving keys need the operator's store keys to be allowed {NEEDED};"
                    " or set PACE_SERVING_CREDENTIALS=shared)"
                )
            raise StoreUserError(f"{what} on {self.endpoint}: {reason}{hint}") from None

    def ensure_reader(
        self, user: str, secret_key: str, *, policy_name: str, policy: Mapping[str, Any]
    ) -> None:
        """Make ``user`` exist with ``secret_key``, enabled, with ``policy`` (stored as
        ``policy_name``) as its only policy. Idempotent: a second call changes nothing."""
        self._call(
            f"MinIO policy {policy_name!r}", self.admin.policy_add, policy_name, policy=dict(policy)
        )
        self._call(f"MinIO user {user!r}", self.admin.user_add, user, secret_key)
        # set-user-or-group-policy replaces what the user had: this policy and no other.
        self._call(
            f"MinIO policy {policy_name!r} for user {user!r}",
            self.admin.policy_set,
            policy_name,
            user=user,
        )

    def remove_reader(self, user: str, *, policy_name: str) -> None:
        """Delete ``user`` and its policy; ones already gone are fine (idempotent)."""
        for what, call, arg in (
            (f"MinIO user {user!r}", self.admin.user_remove, user),
            (f"MinIO policy {policy_name!r}", self.admin.policy_remove, policy_name),
        ):
            try:
                call(arg)
            except MinioAdminException as exc:
                reason = _reason(exc)
                if "NoSuch" not in reason:
                    raise StoreUserError(f"{what} on {self.endpoint}: {reason}") from None

    def policies_of(self, user: str) -> list[str]:
        """The policies attached to ``user`` (for tests and diagnosis)."""
        try:
            info = json.loads(self.admin.user_info(user))
        except MinioAdminException as exc:
            raise StoreUserError(
                f"MinIO user {user!r} on {self.endpoint}: {_reason(exc)}"
            ) from None
        return [p for p in str(info.get("policyName") or "").split(",") if p]

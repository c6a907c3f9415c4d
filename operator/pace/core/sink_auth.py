"""Who may write to the inference sink, for which namespace (pure).

A caller presents a bearer token (``Authorization: Bearer <token>``, or ``?token=`` in the URL
for Seldon's executor, whose request logger sends no headers of its own). Two kinds are taken:

* a **namespace token**, HMAC-SHA256 of the namespace under the sink's key (a Secret the
  operator reads): it allows writing for that namespace only. The operator puts it in the
  logger URL of each predictor it deploys, so a namespace's SeldonDeployments carry their own
  namespace's token and no other;
* a **ServiceAccount token**, checked by the API server (TokenReview): it allows writing for
  the ServiceAccount's own namespace (a label feeder in the model's namespace).

A request for another namespace is refused (403) naming it; no token, or one neither kind
accepts, is 401.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

TOKEN_PREFIX = "pace-ns-"
_SA_PREFIX = "system:serviceaccount:"


def namespace_token(key: bytes, namespace: str) -> str:
    """The token that allows writing inference records of ``namespace``."""
    digest = hmac.new(key, f"inference-sink/{namespace}".encode(), hashlib.sha256).hexdigest()
    return f"{TOKEN_PREFIX}{digest}"


def token_namespace(key: bytes, token: str, namespace: str) -> bool:
    """Whether ``token`` is the namespace token of ``namespace`` (constant-time)."""
    return hmac.compare_digest(namespace_token(key, namespace), token)


def presented_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The bearer token of a request: the Authorization header, else the ``token`` query
    parameter."""
    header = headers.get("Authorization") or headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return query.get("token") or None


def service_account_namespace(username: str | None) -> str | None:
    """The namespace of a ServiceAccount user name (``system:serviceaccount:<ns>:<name>``)."""
    if not username or not username.startswith(_SA_PREFIX):
        return None
    namespace, _, name = username.removeprefix(_SA_PREFIX).partition(":")
    return namespace if namespace and name else None


def is_namespace_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)

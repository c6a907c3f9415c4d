"""The object store holding an s3:// URI: the operator's own bucket, or another bucket of the
same endpoint with the same credentials — only where `pace.core.uri_policy` lets the
operator read it for the object's namespace (the guard at the point of reading; the handlers
report the same refusal as InvalidSpec naming the field)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pace.adapters.object_store import ObjectStore, S3Settings


class Refused(PermissionError):
    """The operator will not read this URI for this namespace; the message says why."""


def for_uri(uri: str | None, memo: Any, *, namespace: str) -> tuple[ObjectStore, str | None]:
    """The store (bucket) and key/prefix of an s3:// URI, or the default store."""
    if not uri:
        return memo.store, None
    problem = memo.config.read_policy.problem(uri, namespace=namespace)
    if problem is not None:
        raise Refused(problem)
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    settings: S3Settings = memo.s3
    if bucket == settings.bucket:
        return memo.store, key
    return ObjectStore(dataclasses.replace(settings, bucket=bucket)), key

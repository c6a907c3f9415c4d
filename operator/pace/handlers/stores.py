"""The object store holding an s3:// URI: the operator's own bucket, or another bucket of the
same endpoint with the same credentials."""

from __future__ import annotations

import dataclasses
from typing import Any

from pace.adapters.object_store import ObjectStore, S3Settings


def for_uri(uri: str | None, memo: Any) -> tuple[ObjectStore, str | None]:
    """The store (bucket) and key/prefix of an s3:// URI, or the default store."""
    if not uri:
        return memo.store, None
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    settings: S3Settings = memo.s3
    if bucket == settings.bucket:
        return memo.store, key
    return ObjectStore(dataclasses.replace(settings, bucket=bucket)), key

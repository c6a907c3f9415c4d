"""S3 object store (MinIO or any S3 endpoint): buckets, write-once puts, gets and listings.

Used by the operator (reading versions and lineage) and by the pipeline steps (register_model).
Credentials come from the environment of the process (the operator reads them from a Secret
and hands them to the pipeline worker); they are never logged or put in status.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error


class WriteOnceError(RuntimeError):
    """A write-once key already exists; the message names it."""


class ObjectStoreError(RuntimeError):
    """The object store refused a request; the message names the key and the reason."""


@dataclass(frozen=True)
class S3Settings:
    """Where the object store is and how to sign in."""

    endpoint: str
    bucket: str = "pace"
    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    secure: bool = False
    region: str | None = None

    ENV_ENDPOINT = "PACE_S3_ENDPOINT"
    ENV_BUCKET = "PACE_S3_BUCKET"
    ENV_SECURE = "PACE_S3_SECURE"
    ENV_ACCESS = "AWS_ACCESS_KEY_ID"
    ENV_SECRET = "AWS_SECRET_ACCESS_KEY"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Settings:
        """Read PACE_S3_ENDPOINT, PACE_S3_BUCKET, PACE_S3_SECURE and the AWS_* keys."""
        env = os.environ if env is None else env
        endpoint = env.get(cls.ENV_ENDPOINT, "")
        if not endpoint:
            raise ObjectStoreError(f"{cls.ENV_ENDPOINT} is not set (host:port of the S3 API)")
        return cls(
            endpoint=endpoint,
            bucket=env.get(cls.ENV_BUCKET, "pace"),
            access_key=env.get(cls.ENV_ACCESS, ""),
            secret_key=env.get(cls.ENV_SECRET, ""),
            secure=env.get(cls.ENV_SECURE, "false").lower() in ("1", "true", "yes"),
        )

    def to_env(self) -> dict[str, str]:
        """Environment for a child process (pipeline worker) to reach the same store."""
        return {
            self.ENV_ENDPOINT: self.endpoint,
            self.ENV_BUCKET: self.bucket,
            self.ENV_SECURE: "true" if self.secure else "false",
            self.ENV_ACCESS: self.access_key,
            self.ENV_SECRET: self.secret_key,
        }


class ObjectStore:
    """One bucket of an S3 endpoint."""

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self.client = Minio(
            settings.endpoint,
            access_key=settings.access_key or None,
            secret_key=settings.secret_key or None,
            secure=settings.secure,
            region=settings.region,
        )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing."""
        try:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise ObjectStoreError(
                    f"bucket {self.bucket!r}: {exc.code}: {exc.message}"
                ) from None

    def exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise ObjectStoreError(f"{self.uri(key)}: {exc.code}: {exc.message}") from None
        return True

    def put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        """Write (or overwrite) one object; return its s3:// URI."""
        self.client.put_object(
            self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
        )
        return self.uri(key)

    def put_once(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> str:
        """Write an object that must not exist yet (versions are immutable)."""
        if self.exists(key):
            raise WriteOnceError(f"{self.uri(key)} already exists; versions are write-once")
        return self.put(key, data, content_type=content_type)

    def put_json(self, key: str, value: Any, *, once: bool = False) -> str:
        data = json.dumps(value, indent=2, sort_keys=True).encode()
        write = self.put_once if once else self.put
        return write(key, data, content_type="application/json")

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as exc:
            raise ObjectStoreError(f"{self.uri(key)}: {exc.code}: {exc.message}") from None
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def get_json(self, key: str) -> Any:
        return json.loads(self.get(key))

    def list(self, prefix: str, *, recursive: bool = True) -> list[str]:
        """Keys under a prefix, sorted."""
        return sorted(
            str(o.object_name)
            for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=recursive)
        )

    def delete(self, keys: Sequence[str]) -> int:
        """Delete these objects (missing ones are no error); how many were asked for. A key
        the store refuses to delete is named in the error."""
        if not keys:
            return 0
        for failed in self.client.remove_objects(self.bucket, [DeleteObject(k) for k in keys]):
            raise ObjectStoreError(f"{self.uri(str(failed.name))}: {failed.code}: {failed.message}")
        return len(keys)

    def list_modified_after(self, prefix: str, after: datetime) -> Sequence[tuple[str, datetime]]:
        """(key, last modified) of objects under a prefix changed after ``after``, oldest first."""
        found = [
            (str(o.object_name), o.last_modified)
            for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            if o.last_modified is not None and o.last_modified > after
        ]
        return sorted(found, key=lambda item: (item[1], item[0]))


def store_for(settings: S3Settings, bucket: str) -> ObjectStore:
    """The same endpoint and keys, another bucket."""
    return ObjectStore(dataclasses.replace(settings, bucket=bucket))


def read_uri(uri: str, settings: S3Settings) -> bytes:
    """Bytes of an s3://bucket/key URI on the configured endpoint (any bucket)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return store_for(settings, bucket).get(key)

"""Session fixture: a real MinIO server, and a per-test bucket."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.localstack import minio, processes


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[minio.MinioInfo]:
    info = minio.start(tmp_path_factory.mktemp("minio"))
    yield info
    processes.stop(info.pid)


@pytest.fixture
def s3_settings(minio_server: minio.MinioInfo) -> S3Settings:
    """Settings for a fresh bucket (created by the code under test when it needs it)."""
    return S3Settings(
        endpoint=minio_server.endpoint,
        bucket=f"t-{uuid.uuid4().hex[:12]}",
        access_key=minio_server.access_key,
        secret_key=minio_server.secret_key,
    )


@pytest.fixture
def store(s3_settings: S3Settings) -> ObjectStore:
    result = ObjectStore(s3_settings)
    result.ensure_bucket()
    return result

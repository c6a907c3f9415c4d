"""The S3 adapter and the version registry against a real MinIO server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pace import registry
from pace.adapters.object_store import (
    ObjectStore,
    ObjectStoreError,
    S3Settings,
    WriteOnceError,
    read_uri,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_bucket_is_created_if_missing(s3_settings: S3Settings) -> None:
    store = ObjectStore(s3_settings)
    assert not store.client.bucket_exists(s3_settings.bucket)
    store.ensure_bucket()
    store.ensure_bucket()  # idempotent
    assert store.client.bucket_exists(s3_settings.bucket)


def test_put_get_list_and_write_once(store: ObjectStore) -> None:
    uri = store.put("a/b/one.bin", b"\x00\x01")
    assert uri == f"s3://{store.bucket}/a/b/one.bin"
    assert store.get("a/b/one.bin") == b"\x00\x01"
    store.put_json("a/c.json", {"x": 1}, once=True)
    with pytest.raises(WriteOnceError, match=r"a/c\.json already exists"):
        store.put_json("a/c.json", {"x": 2}, once=True)
    assert store.get_json("a/c.json") == {"x": 1}  # nothing lost
    assert store.list("a/") == ["a/b/one.bin", "a/c.json"]
    assert read_uri(uri, store.settings) == b"\x00\x01"


def test_missing_key_and_bad_credentials_are_named(
    store: ObjectStore, s3_settings: S3Settings
) -> None:
    with pytest.raises(ObjectStoreError, match=r"nope\.json: NoSuchKey"):
        store.get("nope.json")
    wrong = ObjectStore(
        S3Settings(
            endpoint=s3_settings.endpoint,
            bucket=s3_settings.bucket,
            access_key="nobody",
            secret_key="wrong-secret",
        )
    )
    with pytest.raises(ObjectStoreError, match="InvalidAccessKeyId"):
        wrong.get("anything")


def test_settings_never_show_secrets(s3_settings: S3Settings) -> None:
    assert s3_settings.secret_key not in repr(s3_settings)
    assert s3_settings.access_key not in repr(s3_settings)


def _files(tmp_path: Path, content: bytes) -> dict[str, Path]:
    (tmp_path / "model.joblib").write_bytes(content)
    (tmp_path / "metrics.json").write_text('{"accuracy": 0.9}')
    return {"model": tmp_path / "model.joblib", "metrics": tmp_path / "metrics.json"}


def test_register_is_write_once_and_idempotent(store: ObjectStore, tmp_path: Path) -> None:
    args = {
        "namespace": "ns",
        "model": "m",
        "version": "v1",
        "run": "m-v1-abc",
        "trigger": "create",
        "dataset_uri": "sklearn://wine",
        "data_hash": "sha256:x",
        "spec_hash": "abc",
        "algorithm": "ridge",
        "params": {},
        "metrics": {"r2": 0.5},
        "gates": {"passed": True},
        "pipeline_key": None,
        "now": NOW,
    }
    first = registry.register_version(store, files=_files(tmp_path, b"model-1"), **args)
    assert first["pipelineRun"] == "m-v1-abc"
    assert (
        first["artifacts"]["model"] == f"s3://{store.bucket}/models/ns/m/versions/v1/model.joblib"
    )
    # The same run again (a retried step) changes nothing.
    again = registry.register_version(store, files=_files(tmp_path, b"model-2"), **args)
    assert again == first
    assert store.get("models/ns/m/versions/v1/model.joblib") == b"model-1"
    # Another run may not take over a committed version.
    with pytest.raises(RuntimeError, match="belongs to run 'm-v1-abc'"):
        registry.register_version(
            store, files=_files(tmp_path, b"x"), **{**args, "run": "other-run"}
        )
    assert store.get_json("models/ns/m/versions/v1/lineage.json")["pipelineRun"] == "m-v1-abc"


def test_audit_events_are_write_once_per_writer_and_read_back_in_time_order(
    store: ObjectStore,
) -> None:
    from datetime import timedelta

    from pace import audit_log
    from pace.core import audit

    store.ensure_bucket()
    started = audit.AuditEvent(type="TrainingStarted", message="v2 started", version="v2")
    fired = audit.AuditEvent(type="RetrainTriggered", message="drift", serving="v1")
    later = NOW + timedelta(seconds=5)
    nxt = audit_log.write_events(
        store, namespace="ns", model="m", source="mlmodel", first_seq=0, events=[started], now=later
    )
    assert nxt == 1
    # The same step replayed after a restart (status counter not yet moved): kept once, and
    # the first record is not overwritten by the replay's later time.
    again = audit_log.write_events(
        store,
        namespace="ns",
        model="m",
        source="mlmodel",
        first_seq=0,
        events=[started],
        now=later + timedelta(seconds=9),
    )
    assert again == 1
    audit_log.write_events(
        store,
        namespace="ns",
        model="m",
        source=audit.policy_source("p", "uid-1234"),
        first_seq=1,
        events=[fired],
        now=NOW,
    )
    assert store.list("audit/ns/m/") == [
        "audit/ns/m/mlmodel/00000000-TrainingStarted.json",
        "audit/ns/m/retrainpolicy-p-uid-1234/00000001-RetrainTriggered.json",
    ]
    history = audit_log.read_history(store, "ns", "m")
    assert [r["type"] for r in history] == ["RetrainTriggered", "TrainingStarted"]
    assert history[1]["time"] == later.isoformat()
    assert audit_log.read_history(store, "ns", "other") == []


def test_objects_modified_after_a_time(store: ObjectStore) -> None:
    store.ensure_bucket()
    store.put("incoming/a.csv", b"x\n1\n")
    everything = store.list_modified_after("incoming/", datetime(2000, 1, 1, tzinfo=UTC))
    assert [key for key, _ in everything] == ["incoming/a.csv"]
    stamp = everything[0][1]
    assert store.list_modified_after("incoming/", stamp) == []


class CountingStore(ObjectStore):
    """The real store, counting the objects it reads."""

    reads: list[str]

    def get(self, key: str) -> bytes:
        self.reads.append(key)
        return super().get(key)


def test_new_rows_are_counted_once_per_object_version(s3_settings: S3Settings) -> None:
    from pace.handlers.retrain_policy import count_new_rows

    store = CountingStore(s3_settings)
    store.reads = []
    store.ensure_bucket()
    store.put("fresh/a.csv", b"x\n1\n2\n")
    store.put("fresh/b.csv", b"x\n1\n")
    store.put("fresh/notes.txt", b"ignored")
    since = datetime(2000, 1, 1, tzinfo=UTC)
    rows, problems, counted = count_new_rows(store, "fresh/", since, {})
    assert (rows, problems, sorted(store.reads)) == (3, [], ["fresh/a.csv", "fresh/b.csv"])
    store.reads.clear()
    rows, _problems, counted = count_new_rows(store, "fresh/", since, counted)
    assert (rows, store.reads) == (3, [])  # nothing new: nothing read again
    time.sleep(1.1)  # a new last-modified time
    store.put("fresh/b.csv", b"x\n1\n2\n3\n4\n")
    rows, _problems, counted = count_new_rows(store, "fresh/", since, counted)
    assert (rows, store.reads) == (6, ["fresh/b.csv"])
    assert len(counted) == 2  # the old version of b.csv is forgotten

"""`pace versions` against a real MinIO: every registered version from the registry (all
incarnations of the name, oldest first), not only those the status keeps."""

from __future__ import annotations

import json

import pytest

from pace import cli
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.core import naming


def test_versions_lists_every_lineage_record(
    s3_settings: S3Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    for key, value in s3_settings.to_env().items():
        monkeypatch.setenv(key, value)
    for uid, version, created in (
        ("aaaaaaaa11", "v1", "2026-11-01T10:00:00+00:00"),
        ("aaaaaaaa11", "v2", "2026-11-02T10:00:00+00:00"),
        ("bbbbbbbb22", "v1", "2026-11-03T10:00:00+00:00"),  # the name created again
    ):
        key = naming.artifact_key(
            namespace="ns", model="wine", version=version, artifact="lineage", uid=uid
        )
        record = {
            "version": version,
            "createdAt": created,
            "trigger": "create",
            "metrics": {"accuracy": 0.9},
            "data": {"uri": "sklearn://wine", "hash": "sha256:x"},
            "pipelineRun": f"wine-{version}-{uid[:6]}",
        }
        store.put_json(key, record)
    assert cli.main(["versions", "wine", "-n", "ns", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["version"], r["pipelineRun"]) for r in listed] == [
        ("v1", "wine-v1-aaaaaa"),
        ("v2", "wine-v2-aaaaaa"),
        ("v1", "wine-v1-bbbbbb"),
    ]
    assert cli.main(["versions", "wine", "-n", "ns"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["VERSION", "CREATED", "TRIGGER"]
    assert len(table) == 4
    assert cli.main(["versions", "nothing", "-n", "ns"]) == 1
    assert "no registered versions of ns/nothing" in capsys.readouterr().err

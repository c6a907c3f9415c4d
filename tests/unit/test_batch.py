"""Scheduled batch scoring: schedule, keys, names and the scoring version (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pace.api.mlmodel import MLModel
from pace.core import batch, triggers, uri_policy

NOW = datetime(2026, 11, 28, 10, 17, 30, tzinfo=UTC)


def _model(batch_spec: dict[str, Any] | None = None, **status: Any) -> MLModel:
    spec: dict[str, Any] = {
        "task": "classification",
        "dataset": {"uri": "sklearn://wine", "target": "target"},
    }
    if batch_spec is not None:
        spec["batch"] = {
            "schedule": "0 * * * *",
            "input": "s3://pace/drops/wine/",
            "output": "s3://pace/scored/wine/",
        } | batch_spec
    return MLModel.from_body(
        {
            "apiVersion": "mlops.pace.dev/v1alpha1",
            "kind": "MLModel",
            "metadata": {
                "name": "wine",
                "namespace": "ns",
                "uid": "0123456789abcdef",
                "generation": 1,
            },
            "spec": spec,
            "status": status,
        }
    )


def test_keys_and_names() -> None:
    assert batch.is_input("drops/a.csv")
    assert batch.is_input("drops/b.parquet")
    assert not batch.is_input("drops/a.predictions.parquet")
    assert not batch.is_input("drops/readme.txt")
    assert (
        batch.output_key(
            "drops/wine/2026/11/a.csv", input_prefix="drops/wine/", output_prefix="out/"
        )
        == "out/2026/11/a.predictions.parquet"
    )
    model = _model({})
    assert batch.run_name(model, NOW) == "wine-batch-012345-202611281017"
    assert batch.report_key("ns", "wine", model.uid, "r") == "batch/ns/wine/01234567/runs/r.json"


def test_a_new_or_changed_schedule_starts_from_now() -> None:
    fresh = batch.fresh_status(_model({}), now=NOW)
    assert fresh is not None
    assert fresh.next_run_at == datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
    written = fresh.to_k8s()
    same = _model({}, batch=written)
    assert batch.fresh_status(same, now=NOW) is None
    changed = _model({"schedule": "*/5 * * * *"}, batch=written)
    moved = batch.fresh_status(changed, now=NOW)
    assert moved is not None
    assert moved.next_run_at == datetime(2026, 11, 28, 10, 20, tzinfo=UTC)
    assert batch.fresh_status(_model(None), now=NOW) is None


def test_an_impossible_schedule_names_spec_batch_schedule() -> None:
    with pytest.raises(triggers.InvalidSchedule, match=r"^spec\.batch\.schedule: '0 0 30 2 \*'"):
        batch.next_run("0 0 30 2 *", NOW)


def _version(version: str, stage: str) -> dict[str, Any]:
    return {"version": version, "stage": stage, "createdAt": NOW.isoformat()}


def test_the_scoring_version() -> None:
    assert batch.scoring_version(_model({})) == (
        None,
        "nothing serves yet (spec.batch.version: serving)",
    )
    versions = [
        _version("v1", "archived"),
        _version("v2", "production"),
        _version("v3", "rejected"),
    ]
    serving = _model({}, servingVersion="v2", versions=versions)
    assert batch.scoring_version(serving) == ("v2", None)
    assert batch.scoring_version(_model({"version": "v1"}, versions=versions)) == ("v1", None)
    assert batch.scoring_version(_model({"version": "v3"}, versions=versions))[1] == (
        "spec.batch.version 'v3' is rejected; it does not score"
    )
    assert batch.scoring_version(_model({"version": "v9"}, versions=versions))[1] == (
        "spec.batch.version 'v9' is not a version of this model (v1, v2, v3)"
    )


def test_the_summary_line() -> None:
    report = {
        "version": "v2",
        "rowsScored": 120,
        "filesScored": 2,
        "filesSkipped": 3,
        "failures": [{"file": "s3://x/y.csv", "message": "KeyError"}],
    }
    assert batch.summary(report) == (
        "v2 scored 120 rows in 2 new file(s); 3 already scored; 1 file(s) failed"
    )


def test_batch_prefixes_obey_the_read_and_write_policy() -> None:
    policy = uri_policy.ReadPolicy(own_bucket="pace")
    spec = _model({"input": "s3://other/in/", "output": "s3://pace/models/ns/wine/"}).spec
    problems = dict(uri_policy.mlmodel_problems(spec, "ns", policy))
    assert set(problems) == {"spec.batch.input", "spec.batch.output"}
    assert "PACE's own models/ data" in problems["spec.batch.output"]
    fine = _model({}).spec
    assert uri_policy.mlmodel_problems(fine, "ns", policy) == []

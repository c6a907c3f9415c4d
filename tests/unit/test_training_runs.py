"""When training runs start, how they end, and what supersedes them."""

from datetime import UTC, datetime, timedelta

import pytest

from pace.api.mlmodel import MLModelStatus, TrainingRun, VersionRecord
from pace.core import training_runs

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(
    state: str, *, spec_hash: str = "aaaa", version: str = "v1", attempts: int = 1
) -> TrainingRun:
    return TrainingRun(
        run=f"m-{version}-{spec_hash}",
        version=version,
        spec_hash=spec_hash,
        trigger="create",
        backend="local",
        state=state,
        attempts=attempts,
        submitted_at=T0,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("training", "versions", "spec_hash", "reason", "expected"),
    [
        (None, [], "aaaa", None, ("v1", "create")),
        (_run("Succeeded"), ["v1"], "aaaa", None, None),  # nothing changed
        (_run("Succeeded"), ["v1"], "bbbb", None, ("v2", "spec-change")),
        (_run("Queued"), [], "aaaa", "drift: x", None),  # one run at a time for a spec
        (_run("Running"), [], "bbbb", None, ("v2", "spec-change")),  # v1 is skipped, not reused
        (_run("Succeeded"), ["v1"], "aaaa", "drift: x", ("v2", "drift: x")),
    ],
)
def test_decide_start(
    training: TrainingRun | None,
    versions: list[str],
    spec_hash: str,
    reason: str | None,
    expected: tuple[str, str] | None,
) -> None:
    current = MLModelStatus(
        training=training,
        versions=[VersionRecord(version=v, stage="production") for v in versions],
    )
    start = training_runs.decide_start(
        current, model="m", spec_hash=spec_hash, retrain_reason=reason
    )
    assert (None if start is None else (start.version, start.trigger)) == expected


def test_new_runs_wait_in_the_queue() -> None:
    start = training_runs.decide_start(MLModelStatus(), model="m", spec_hash="aaaa")
    assert start is not None
    run = training_runs.new_run(start, spec_hash="aaaa", backend="local", now=T0)
    assert (run.state, run.started_at) == ("Queued", T0)
    assert (
        "queued at position 3"
        in training_runs.training_condition(
            run.model_copy(update={"position": 3}), generation=1, now=T0
        ).message
    )


@pytest.mark.parametrize(
    ("state", "spec_hash", "superseded"),
    [
        ("Queued", "bbbb", True),
        ("Running", "bbbb", True),
        ("Running", "aaaa", False),
        ("Succeeded", "bbbb", False),
    ],
)
def test_supersedes(state: str, spec_hash: str, superseded: bool) -> None:
    current = MLModelStatus(training=_run(state))
    found = training_runs.supersedes(current, spec_hash=spec_hash)
    assert (found is not None) == superseded
    if found is not None:
        assert training_runs.superseded(found, now=T0).state == "Superseded"


def test_lost_runs_back_off_then_fail() -> None:
    run = _run("Running", attempts=2)
    assert not training_runs.resubmit_due(run, now=T0 + timedelta(seconds=19))
    assert training_runs.resubmit_due(run, now=T0 + timedelta(seconds=20))
    outcome = training_runs.lost(
        MLModelStatus(), _run("Running", attempts=3), message="worker died", generation=4, now=T0
    )
    assert outcome.run.state == "Failed"
    cond = outcome.conditions[0]
    assert (cond.type, cond.status, cond.reason) == ("Trained", "False", "RunLost")
    assert "lost 3 times" in cond.message
    assert "worker died" in cond.message


def test_failed_and_succeeded_outcomes() -> None:
    current = MLModelStatus(versions=[VersionRecord(version="v1", stage="production")])
    failed = training_runs.failed(
        current,
        _run("Running", version="v2"),
        failed_step="train-model",
        message="boom",
        generation=2,
        now=T0,
    )
    assert failed.conditions[0].reason == "PipelineFailed"
    assert "train-model" in failed.conditions[0].message
    lineage = {
        "version": "v2",
        "createdAt": T0.isoformat(),
        "metrics": {"accuracy": 0.9},
        "gates": {"passed": False, "failures": ["accuracy 0.9 below min 0.95"]},
    }
    rejected = training_runs.succeeded(
        current, _run("Running", version="v2"), lineage, generation=2, now=T0
    )
    assert rejected.candidate_version is None
    assert [v.stage for v in rejected.versions] == ["production", "rejected"]
    assert "accuracy 0.9 below min 0.95" in rejected.conditions[1].message


def test_status_keeps_a_bounded_version_history() -> None:
    stages = ["archived"] * 12 + ["rejected"] * 6 + ["production", "canary"]
    versions = [
        VersionRecord(version=f"v{i + 1}", stage=stage)  # type: ignore[arg-type]
        for i, stage in enumerate(stages)
    ]
    kept = [v.version for v in training_runs.cap_versions(versions)]
    # the newest 10 (v11..v20) plus the newest 3 archived (v10..v12), oldest first
    assert kept == [f"v{i}" for i in range(10, 21)]
    assert training_runs.cap_versions(versions[:4]) == versions[:4]
    # the next version number still follows the newest
    current = MLModelStatus(versions=training_runs.cap_versions(versions))
    start = training_runs.decide_start(current, model="m", spec_hash="zz", retrain_reason="x")
    assert start is not None
    assert start.version == "v21"

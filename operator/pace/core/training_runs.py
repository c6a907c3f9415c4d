"""When to start a training run, and what its result does to status (pure).

The MLModel handlers call `decide_start` on every spec event and `apply_result` when the
backend reports an end. Run names and versions derive from status and spec only, so a
restarted operator recomputes the same run and the backend's idempotent submit does not
start a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pace.api.conditions import Condition, ConditionType
from pace.api.mlmodel import ACTIVE, MLModelStatus, TrainingRun, VersionRecord
from pace.core import naming, status, transient

MAX_ATTEMPTS = 3
"""Submissions of one run before a run the backend keeps losing is given up as failed."""
KEEP_VERSIONS = 10
"""status.versions keeps the newest versions ..."""
KEEP_ROLLBACK_TARGETS = 3
"""... plus the newest archived ones (instant rollback targets) and whatever serves or rolls
out; older records live on in the registry (lineage.json per version)."""


def cap_versions(versions: list[VersionRecord]) -> list[VersionRecord]:
    """The version records status keeps, oldest first (bounded however often a model retrains)."""
    live = {v.version for v in versions if v.stage in ("production", "candidate", "canary")}
    archived = [v.version for v in versions if v.stage == "archived"][-KEEP_ROLLBACK_TARGETS:]
    newest = [v.version for v in versions][-KEEP_VERSIONS:]
    keep = live | set(archived) | set(newest)
    return [v for v in versions if v.version in keep]


@dataclass(frozen=True)
class StartRun:
    """A run to start."""

    version: str
    run_name: str
    trigger: str


def decide_start(
    current: MLModelStatus,
    *,
    model: str,
    spec_hash: str,
    retrain_reason: str | None = None,
    uid: str = "",
) -> StartRun | None:
    """A new run when no run exists for this training spec (or a retrain is requested)."""
    latest = current.training
    if latest is not None and latest.spec_hash == spec_hash and retrain_reason is None:
        return None
    if latest is not None and latest.state in ACTIVE and (latest.spec_hash == spec_hash):
        return None
    taken = [v.version for v in current.versions]
    if latest is not None:
        taken.append(latest.version)
    version = naming.next_version(taken)
    if retrain_reason:
        trigger = retrain_reason
    elif not current.versions and latest is None:
        trigger = "create"
    else:
        trigger = "spec-change"
    return StartRun(
        version=version,
        run_name=naming.run_name(model=model, version=version, spec_hash=spec_hash, uid=uid),
        trigger=trigger,
    )


def new_run(start: StartRun, *, spec_hash: str, backend: str, now: datetime) -> TrainingRun:
    """A run waiting in the training queue (submitted once the queue admits it)."""
    return TrainingRun(
        run=start.run_name,
        version=start.version,
        spec_hash=spec_hash,
        trigger=start.trigger,
        backend=backend,
        state="Queued",
        started_at=now,
    )


def supersedes(current: MLModelStatus, *, spec_hash: str) -> TrainingRun | None:
    """The queued or running run a training spec change replaces (None when there is none):
    its result would describe a spec the user no longer asks for."""
    latest = current.training
    if latest is not None and latest.state in ACTIVE and latest.spec_hash != spec_hash:
        return latest
    return None


def superseded(run: TrainingRun, *, now: datetime) -> TrainingRun:
    return run.model_copy(
        update={
            "state": "Superseded",
            "position": None,
            "finished_at": now,
            "message": "A newer training spec replaced this run; it was cancelled.",
        }
    )


def resubmit_due(run: TrainingRun, *, now: datetime, base_seconds: float = 10.0) -> bool:
    """Whether a lost run may be submitted again now: 10 s, 20 s, 40 s ... after the last
    submission."""
    if run.submitted_at is None:
        return True
    wait = base_seconds * 2.0 ** max(0, run.attempts - 1)
    return (now - run.submitted_at).total_seconds() >= wait


def lost(
    current: MLModelStatus, run: TrainingRun, *, message: str, generation: int, now: datetime
) -> RunOutcome:
    """A run the backend lost MAX_ATTEMPTS times: failed, with the reason as a condition."""
    text = (
        f"Pipeline run {run.run} was lost {run.attempts} times (the limit is {MAX_ATTEMPTS}): "
        f"{message or 'no message'}"
    )
    done = run.model_copy(
        update={"state": "Failed", "finished_at": now, "message": text[:2000], "position": None}
    )
    cond = status.condition(
        ConditionType.TRAINED, "False", "RunLost", text[:4000], generation=generation, now=now
    )
    return RunOutcome(
        run=done,
        versions=list(current.versions),
        candidate_version=current.candidate_version,
        conditions=[cond],
    )


def training_condition(run: TrainingRun, *, generation: int, now: datetime) -> Condition:
    """The Trained condition for a run queued or in flight."""
    if run.state == "Queued":
        where = f" at position {run.position}" if run.position else ""
        message = f"Pipeline run {run.run} for {run.version} is queued{where}."
    else:
        step = f" (step {run.step})" if run.step else ""
        message = f"Pipeline run {run.run} for {run.version} is {run.state.lower()}{step}."
    return status.condition(
        ConditionType.TRAINED, "Unknown", "Training", message, generation=generation, now=now
    )


def version_from_lineage(lineage: dict[str, Any], *, passed: bool) -> VersionRecord:
    """The status record of a registered version."""
    return VersionRecord(
        version=lineage["version"],
        stage="candidate" if passed else "rejected",
        metrics={k: float(v) for k, v in lineage.get("metrics", {}).items()},
        artifact_uri=lineage.get("artifacts", {}).get("model"),
        data_hash=lineage.get("data", {}).get("hash"),
        spec_hash=lineage.get("specHash"),
        pipeline_run=lineage.get("pipelineRun"),
        created_at=datetime.fromisoformat(lineage["createdAt"]),
        trigger=lineage.get("trigger"),
        recent_rows=(lineage.get("data", {}).get("recent") or {}).get("rows"),
        data_note=lineage.get("data", {}).get("note"),
    )


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run changes."""

    run: TrainingRun
    versions: list[VersionRecord]
    candidate_version: str | None
    conditions: list[Condition]


def _metric_summary(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())[:4])


def succeeded(
    current: MLModelStatus,
    run: TrainingRun,
    lineage: dict[str, Any],
    *,
    generation: int,
    now: datetime,
) -> RunOutcome:
    """Record the registered version; it becomes the candidate only if its gates passed."""
    gates = lineage.get("gates", {})
    passed = bool(gates.get("passed", False))
    record = version_from_lineage(lineage, passed=passed)
    versions = cap_versions([v for v in current.versions if v.version != record.version] + [record])
    trained = status.condition(
        ConditionType.TRAINED,
        "True",
        "TrainingSucceeded",
        f"{record.version} trained by {run.run}: {_metric_summary(record.metrics)}.",
        generation=generation,
        now=now,
    )
    if passed:
        validated = status.condition(
            ConditionType.VALIDATED,
            "True",
            "GatesPassed",
            f"{record.version} passed every quality gate.",
            generation=generation,
            now=now,
        )
    else:
        failures = "; ".join(gates.get("failures", [])) or "a quality gate failed"
        validated = status.condition(
            ConditionType.VALIDATED,
            "False",
            "GateFailed",
            f"{record.version} rejected: {failures}.",
            generation=generation,
            now=now,
        )
    done = run.model_copy(
        update={"state": "Succeeded", "finished_at": now, "message": validated.message}
    )
    return RunOutcome(
        run=done,
        versions=versions,
        candidate_version=record.version if passed else current.candidate_version,
        conditions=[trained, validated],
    )


def failed(
    current: MLModelStatus,
    run: TrainingRun,
    *,
    failed_step: str | None,
    message: str,
    generation: int,
    now: datetime,
) -> RunOutcome:
    """A failed run: the failing step and its message, as a condition."""
    step = failed_step or run.step or "unknown step"
    text = f"Pipeline run {run.run} failed at step {step!r}: {message or 'no message'}"
    done = run.model_copy(
        update={"state": "Failed", "finished_at": now, "failed_step": step, "message": text[:2000]}
    )
    cond = status.condition(
        ConditionType.TRAINED,
        "False",
        "PipelineFailed",
        text[:4000],
        generation=generation,
        now=now,
    )
    return RunOutcome(
        run=done,
        versions=list(current.versions),
        candidate_version=current.candidate_version,
        conditions=[cond],
    )


def retry_after_failure(
    run: TrainingRun, *, failed_step: str | None, message: str, now: datetime
) -> TrainingRun | None:
    """The run waiting to be submitted again when its failure was transient (the store or
    network briefly away) and retries are left; None when the failure stands."""
    if not transient.is_transient(message) or run.retries >= transient.MAX_RETRIES:
        return None
    if run.retry_at is not None:
        return run  # already waiting
    at = now + timedelta(seconds=transient.retry_delay(run.retries))
    step = failed_step or run.step or "unknown step"
    return run.model_copy(
        update={
            "retry_at": at,
            "failed_step": step,
            "message": (
                f"Step {step!r} failed with a transient error ({message[:300]}); submitting "
                f"again at {at:%H:%M:%S} UTC (retry {run.retries + 1} of "
                f"{transient.MAX_RETRIES})."
            ),
        }
    )


def retried(run: TrainingRun, *, now: datetime) -> TrainingRun:
    """The run resubmitted after its transient failure: a new backend run, retries + 1."""
    return run.model_copy(
        update={
            "retries": run.retries + 1,
            "retry_at": None,
            "state": "Pending",
            "step": None,
            "failed_step": None,
            "submitted_at": now,
        }
    )

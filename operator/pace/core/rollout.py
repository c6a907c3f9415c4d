"""What a rollout decision does to an MLModel's status (pure).

Given the status and a canary decision (or a manual promote/rollback), return the new
versions' stages, serving and candidate versions, canary state and conditions in one
`RolloutStatus`, which the handler writes as one patch and renders into the
SeldonDeployment. The previous production version is archived, never deleted, so a rollback
to it is instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pace.api.conditions import Condition, ConditionType
from pace.api.mlmodel import CanaryState, MLModelStatus, VersionRecord
from pace.core import status
from pace.core.canary import Decision

NOT_SERVABLE = ("rejected", "superseded")
"""Stages a rollback may never return to: the version failed its canary or its gates, or a
newer spec replaced it."""


@dataclass(frozen=True)
class RolloutStatus:
    """The status fields a rollout step sets."""

    versions: list[VersionRecord]
    serving_version: str | None
    candidate_version: str | None
    canary: CanaryState | None
    conditions: list[Condition] = field(default_factory=list)
    event: tuple[str, str, str] | None = None  # (type, reason, message)

    def patch(self) -> dict[str, Any]:
        return {
            "versions": [v.to_k8s() for v in self.versions],
            "servingVersion": self.serving_version,
            "candidateVersion": self.candidate_version,
            # to_patch keeps None fields: a merge patch must clear holding/holdingSince.
            "canary": self.canary.to_patch() if self.canary else None,
        }


def _restage(versions: list[VersionRecord], stages: dict[str, str]) -> list[VersionRecord]:
    return [
        v.model_copy(update={"stage": stages[v.version]}) if v.version in stages else v
        for v in versions
    ]


def rollback_target_problem(current: MLModelStatus, target: str) -> str | None:
    """Why ``target`` cannot be rolled back to (None when it can)."""
    found = find(current, target)
    if found is None:
        return f"rollback target {target!r} is not a version of this model"
    if found.stage in NOT_SERVABLE:
        return (
            f"rollback target {target!r} is {found.stage}; only served or archived versions qualify"
        )
    if found.stage in ("candidate", "canary"):
        return f"rollback target {target!r} is the {found.stage}; use promote instead"
    return None


def find(current: MLModelStatus, version: str | None) -> VersionRecord | None:
    return find_in(current.versions, version)


def find_in(versions: list[VersionRecord], version: str | None) -> VersionRecord | None:
    return next((v for v in versions if v.version == version), None)


def promote(
    current: MLModelStatus,
    version: str,
    *,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> RolloutStatus:
    """``version`` takes all traffic; the previous production version is archived."""
    stages = {v.version: "archived" for v in current.versions if v.stage == "production"}
    stages[version] = "production"
    if current.candidate_version and current.candidate_version != version:
        stages[current.candidate_version] = "rejected"
    conds = [
        status.condition(
            ConditionType.DEPLOYED,
            "True",
            "Deployed",
            f"{version} serves 100 % of traffic.",
            generation=generation,
            now=now,
        ),
        status.condition(
            ConditionType.CANARY_HEALTHY, "True", reason, message, generation=generation, now=now
        ),
    ]
    return RolloutStatus(
        versions=_restage(list(current.versions), stages),
        serving_version=version,
        candidate_version=None,
        canary=None,
        conditions=conds,
        event=("Normal", reason, message),
    )


def start_canary(
    current: MLModelStatus, decision: Decision, *, generation: int, now: datetime
) -> RolloutStatus:
    """The candidate becomes the canary predictor at the first step."""
    candidate = current.candidate_version
    assert candidate is not None
    cond = status.condition(
        ConditionType.CANARY_HEALTHY,
        "Unknown",
        "Progressing",
        f"{candidate}: {decision.message}",
        generation=generation,
        now=now,
    )
    return RolloutStatus(
        versions=_restage(list(current.versions), {candidate: "canary"}),
        serving_version=current.serving_version,
        candidate_version=candidate,
        canary=decision.state,
        conditions=[cond],
        event=("Normal", "CanaryStarted", f"{candidate}: {decision.message}"),
    )


def step(
    current: MLModelStatus, decision: Decision, *, generation: int, now: datetime
) -> RolloutStatus:
    """Apply one analysis decision to a running canary."""
    candidate = current.candidate_version
    assert candidate is not None
    own_reason = decision.reason in ("ProgressDeadlineExceeded", "PredictorFailed", "LabelsMissing")
    if decision.action == "Promote":
        return promote(
            current,
            candidate,
            reason=decision.reason if own_reason else "Promoted",
            message=f"{candidate} promoted: {decision.message}",
            generation=generation,
            now=now,
        )
    if decision.action == "RollBack":
        return roll_back(
            current,
            reason=decision.reason if own_reason else "RolledBack",
            message=f"{candidate} rolled back: {decision.message}",
            generation=generation,
            now=now,
        )
    cond = status.condition(
        ConditionType.CANARY_HEALTHY,
        "Unknown",
        "Progressing",
        f"{candidate} at {decision.state.weight} %: {decision.message}",
        generation=generation,
        now=now,
    )
    event = None
    before = current.canary.holding if current.canary else None
    # Prometheus unreachable is news (once); no traffic yet is the normal start of a step.
    newly_holding = decision.reason == "MetricsUnavailable" and before != decision.reason
    if decision.action == "Advance" or decision.reason == "CheckFailed" or newly_holding:
        kind = "Normal" if decision.action == "Advance" else "Warning"
        event = (kind, decision.reason, f"{candidate}: {decision.message}")
    return RolloutStatus(
        versions=list(current.versions),
        serving_version=current.serving_version,
        candidate_version=candidate,
        canary=decision.state,
        conditions=[cond],
        event=event,
    )


def roll_back(
    current: MLModelStatus,
    *,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
    to: str | None = None,
    candidate_stage: str = "rejected",
) -> RolloutStatus:
    """Remove the canary (candidate rejected, or superseded by a newer spec); optionally serve
    an archived version again."""
    stages: dict[str, str] = {}
    if current.candidate_version:
        stages[current.candidate_version] = candidate_stage
    serving = current.serving_version
    if to is not None and to != serving:
        for v in current.versions:
            if v.stage == "production":
                stages[v.version] = "archived"
        stages[to] = "production"
        serving = to
    conds = [
        status.condition(
            ConditionType.CANARY_HEALTHY, "False", reason, message, generation=generation, now=now
        )
    ]
    return RolloutStatus(
        versions=_restage(list(current.versions), stages),
        serving_version=serving,
        candidate_version=None,
        canary=None,
        conditions=conds,
        event=("Warning", reason, message),
    )

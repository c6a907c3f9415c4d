"""The Kubernetes condition shape, PACE's condition types and reasons (pure data).

`pace.core.status` implements apimachinery's SetStatusCondition semantics on these.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from pace.api.common import CamelModel


class ConditionType(StrEnum):
    """Condition types. Adjectives or past-tense verbs, as the API conventions ask."""

    TRAINED = "Trained"
    VALIDATED = "Validated"
    DEPLOYED = "Deployed"
    CANARY_HEALTHY = "CanaryHealthy"
    READY = "Ready"
    DRIFT_DETECTED = "DriftDetected"
    MODEL_FOUND = "ModelFound"
    SPEC_VALID = "SpecValid"
    RECONCILED = "Reconciled"
    INFERENCE_LOGGED = "InferenceLogged"
    NOTIFIED = "Notified"
    BATCH_SCORED = "BatchScored"


class Reason(StrEnum):
    """One-word CamelCase causes used in conditions and events."""

    RECONCILING = "Reconciling"
    PENDING = "Pending"
    ACCEPTED = "Accepted"
    INVALID_SPEC = "InvalidSpec"
    MODEL_NOT_FOUND = "ModelNotFound"
    MODEL_FOUND = "ModelFound"
    MONITOR_NOT_FOUND = "MonitorNotFound"
    NOT_TRAINED = "NotTrained"
    WAITING_FOR_MODEL = "WaitingForModel"
    NOT_CHECKED = "NotChecked"
    READY = "Ready"
    RECONCILE_ERROR = "ReconcileError"
    RECOVERED = "Recovered"
    QUARANTINED = "Quarantined"
    LOGGING = "Logging"
    DELIVERING = "Delivering"
    DELIVERY_FAILING = "DeliveryFailing"


STARTING_REASONS = frozenset({Reason.NOT_TRAINED})
"""Reasons of a False condition that only says where every new object starts (a new model
serves nothing yet): its first appearance is not bad news and posts no event."""

Status = Literal["True", "False", "Unknown"]


class Condition(CamelModel):
    """One observation of an aspect of the object (meta/v1 Condition)."""

    type: str = Field(
        description="Type of condition in CamelCase, e.g. Ready or Trained.",
        min_length=1,
        max_length=316,
    )
    status: Status = Field(description="Status of the condition: True, False or Unknown.")
    reason: str = Field(
        description="One-word CamelCase reason for the last transition.",
        min_length=1,
        max_length=1024,
    )
    message: str = Field(
        "", description="Human-readable details of the last transition.", max_length=32768
    )
    last_transition_time: datetime = Field(
        description="When the condition last changed from one status to another."
    )
    observed_generation: int | None = Field(
        None, ge=0, description="metadata.generation this condition was set from."
    )


def parse_conditions(raw_status: object) -> list[Condition]:
    """Conditions from a raw status mapping, skipping entries that do not parse.

    Used where the rest of the object may be invalid and must still be reported on.
    """
    if not isinstance(raw_status, dict):
        return []
    parsed = []
    for item in raw_status.get("conditions") or []:
        try:
            parsed.append(Condition.model_validate(item))
        except ValueError:
            continue
    return parsed

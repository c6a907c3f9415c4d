"""Status conditions with apimachinery's SetStatusCondition semantics, and the derived phase.

Called by every handler to build the one status patch it sends. Pure: `now` is a parameter
and the input lists are never changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pace.api.conditions import Condition, ConditionType, Reason, Status
from pace.api.mlmodel import Phase

MAX_MESSAGE = 32768  # a condition message's maxLength (meta/v1 Condition)


def condition(
    type_: ConditionType | str,
    status: Status,
    reason: Reason | str,
    message: str,
    *,
    generation: int,
    now: datetime,
) -> Condition:
    """A new condition stamped with the generation it was computed from; a message past
    MAX_MESSAGE (one naming a user's huge map key, say) is cut there."""
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return Condition(
        type=str(type_),
        status=status,
        reason=str(reason),
        message=message,
        last_transition_time=now,
        observed_generation=generation,
    )


def find(conditions: Iterable[Condition], type_: ConditionType | str) -> Condition | None:
    """The condition of that type, if present."""
    return next((c for c in conditions if c.type == str(type_)), None)


def is_true(conditions: Iterable[Condition], type_: ConditionType | str) -> bool:
    """True when the condition is present with status True."""
    found = find(conditions, type_)
    return found is not None and found.status == "True"


def set_condition(conditions: Sequence[Condition], new: Condition) -> list[Condition]:
    """Return the list with ``new`` applied, like meta.SetStatusCondition.

    lastTransitionTime changes only when the status changes; otherwise reason, message and
    observedGeneration are updated in place and the old transition time is kept.
    """
    result: list[Condition] = []
    replaced = False
    for old in conditions:
        if old.type != new.type:
            result.append(old)
            continue
        replaced = True
        if old.status == new.status:
            result.append(new.model_copy(update={"last_transition_time": old.last_transition_time}))
        else:
            result.append(new)
    if not replaced:
        result.append(new)
    return result


def set_conditions(
    conditions: Sequence[Condition], updates: Iterable[Condition]
) -> list[Condition]:
    """Apply several conditions in order."""
    result = list(conditions)
    for new in updates:
        result = set_condition(result, new)
    return result


def transitions(before: Sequence[Condition], after: Sequence[Condition]) -> list[Condition]:
    """Conditions in ``after`` that are new or whose status or reason changed.

    Handlers emit one event per transition, so retries do not flood the event stream.
    """
    changed = []
    for cond in after:
        old = find(before, cond.type)
        if old is None or (old.status, old.reason) != (cond.status, cond.reason):
            changed.append(cond)
    return changed


def derive_phase(conditions: Sequence[Condition]) -> Phase:
    """The MLModel phase shown by kubectl, derived from conditions only (never read back)."""
    spec_valid = find(conditions, ConditionType.SPEC_VALID)
    if spec_valid is not None and spec_valid.status == "False":
        return "Failed"
    if is_true(conditions, ConditionType.READY):
        if is_true(conditions, ConditionType.DRIFT_DETECTED):
            return "Degraded"
        canary = find(conditions, ConditionType.CANARY_HEALTHY)
        if canary is not None and canary.reason == "Progressing":
            return "Canary"
        return "Serving"
    trained = find(conditions, ConditionType.TRAINED)
    if trained is None or trained.status == "Unknown":
        return "Training" if trained is not None and trained.reason == "Training" else "Pending"
    if trained.status == "False":
        return "Failed"
    validated = find(conditions, ConditionType.VALIDATED)
    if validated is None or validated.status == "Unknown":
        return "Validating"
    if validated.status == "False":
        return "Failed"
    return "Pending"


def conditions_to_k8s(conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    """The JSON form stored in status.conditions."""
    return [c.to_k8s() for c in conditions]

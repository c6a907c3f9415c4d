"""Conditions that say whether the objects a resource refers to exist (pure).

Used by the RetrainPolicy and DriftMonitor handlers: a reference to a missing MLModel (or
DriftMonitor) is reported as ModelFound=False and Ready=False with a message naming it; a part
of the spec that cannot work, as Ready=False with reason InvalidSpec.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pace.api.conditions import Condition, ConditionType, Reason
from pace.core import status


@dataclass(frozen=True)
class MissingRef:
    """A referenced object that does not exist."""

    kind: str
    name: str
    field: str


def reference_conditions(
    missing: list[MissingRef],
    *,
    namespace: str,
    generation: int,
    now: datetime,
    ready_message: str,
    invalid: str | None = None,
) -> list[Condition]:
    """ModelFound and Ready conditions for the references a resource has. ``invalid`` names
    a part of the spec that cannot work although the resource runs (a schedule croniter
    refuses): Ready is then False with reason InvalidSpec, never True beside a broken part."""
    if not missing:
        found = status.condition(
            ConditionType.MODEL_FOUND,
            "True",
            Reason.MODEL_FOUND,
            "All referenced objects exist.",
            generation=generation,
            now=now,
        )
        if invalid is not None:
            ready = status.condition(
                ConditionType.READY,
                "False",
                Reason.INVALID_SPEC,
                invalid,
                generation=generation,
                now=now,
            )
        else:
            ready = status.condition(
                ConditionType.READY,
                "True",
                Reason.READY,
                ready_message,
                generation=generation,
                now=now,
            )
        return [found, ready]
    message = "; ".join(
        f"{m.kind} {m.name!r} ({m.field}) not found in namespace {namespace!r}" for m in missing
    )
    reason = Reason.MODEL_NOT_FOUND if missing[0].kind == "MLModel" else Reason.MONITOR_NOT_FOUND
    not_ready = message if invalid is None else f"{message}; {invalid}"
    return [
        status.condition(
            ConditionType.MODEL_FOUND, "False", reason, message, generation=generation, now=now
        ),
        status.condition(
            ConditionType.READY, "False", reason, not_ready, generation=generation, now=now
        ),
    ]


def retry_delay(retry: int, *, base: float = 5.0, cap: float = 300.0) -> float:
    """Exponential backoff for retries: 5s, 10s, 20s, ... capped at five minutes."""
    return float(min(cap, base * (2 ** max(0, retry))))

"""MLModel handlers: parse the spec, set first-visit conditions and observedGeneration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from pace.api import conditions, constants
from pace.api.conditions import ConditionType, Reason, Status
from pace.api.mlmodel import MLModel
from pace.core import status
from pace.handlers import reporting

KIND = constants.MLMODEL_KIND


@kopf.on.resume(constants.GROUP, constants.VERSION, constants.MLMODEL_PLURAL)
@kopf.on.create(constants.GROUP, constants.VERSION, constants.MLMODEL_PLURAL)
@kopf.on.update(constants.GROUP, constants.VERSION, constants.MLMODEL_PLURAL)
@reporting.instrumented(KIND)
async def reconcile_mlmodel(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    """Accept the spec and record what is known so far as conditions."""
    now = datetime.now(UTC)
    generation = int(body["metadata"].get("generation", 0))
    try:
        model = MLModel.from_body(body)
    except pydantic.ValidationError as exc:
        message = reporting.invalid_spec_message(exc)
        before = conditions.parse_conditions(dict(body.get("status") or {}))
        after = reporting.report(
            kind=KIND,
            body=body,
            patch=patch,
            before=before,
            generation=generation,
            updates=[
                status.condition(
                    ConditionType.SPEC_VALID,
                    "False",
                    Reason.INVALID_SPEC,
                    message,
                    generation=generation,
                    now=now,
                )
            ],
        )
        patch.status["phase"] = status.derive_phase(after)
        raise kopf.PermanentError(message) from None
    current = model.status.conditions
    updates = [
        status.condition(
            ConditionType.SPEC_VALID,
            "True",
            Reason.ACCEPTED,
            "The spec is valid.",
            generation=generation,
            now=now,
        )
    ]
    first_visit = {
        ConditionType.TRAINED: (Reason.PENDING, "Waiting for a training run."),
        ConditionType.READY: (Reason.NOT_TRAINED, "No version is serving yet."),
    }
    for type_, (reason, message) in first_visit.items():
        if status.find(current, type_) is None:
            state: Status = "False" if type_ is ConditionType.READY else "Unknown"
            updates.append(
                status.condition(type_, state, reason, message, generation=generation, now=now)
            )
    after = reporting.report(
        kind=KIND, body=body, patch=patch, before=current, updates=updates, generation=generation
    )
    patch.status["phase"] = status.derive_phase(after)

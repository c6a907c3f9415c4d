"""The MLModel's own DriftDetected condition, mirrored from the DriftMonitors that watch it.

A timer lists the namespace's monitors, keeps those whose modelRef names the model, and sets
the condition from their verdicts (pace.core.drift.model_condition); the phase becomes Degraded
while a serving model drifts. The status is patched only when the condition changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from pace.api import constants
from pace.api.conditions import ConditionType
from pace.api.drift_monitor import DriftMonitor
from pace.api.mlmodel import MLModel
from pace.core import drift, status
from pace.handlers import reporting

KIND = constants.MLMODEL_KIND
TICK_SECONDS = 5.0


def monitors_of(model: str, bodies: list[dict[str, Any]]) -> list[DriftMonitor]:
    found = []
    for body in bodies:
        try:
            monitor = DriftMonitor.from_body(body)
        except pydantic.ValidationError:
            continue  # it reports its own invalid spec
        if monitor.spec.model_ref.name == model:
            found.append(monitor)
    return found


@kopf.timer(
    constants.GROUP,
    constants.VERSION,
    constants.MLMODEL_PLURAL,
    interval=TICK_SECONDS,
    initial_delay=TICK_SECONDS,
)
@reporting.instrumented(KIND)
async def reflect_drift(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Set DriftDetected from the model's monitors when it changed."""
    try:
        model = MLModel.from_body(body)
    except pydantic.ValidationError:
        return  # reconcile_mlmodel reports the invalid spec
    listed = await memo.kube.alist_objects(constants.DRIFT_MONITOR_PLURAL, model.namespace)
    verdicts = [
        (m.name, status.find(m.status.conditions, ConditionType.DRIFT_DETECTED))
        for m in monitors_of(model.name, listed)
    ]
    new = drift.model_condition(verdicts, generation=model.generation, now=datetime.now(UTC))
    old = status.find(model.status.conditions, ConditionType.DRIFT_DETECTED)
    if new is None or (
        old is not None
        and (old.status, old.reason, old.message) == (new.status, new.reason, new.message)
    ):
        return
    reporting.report_model(
        body=body,
        patch=patch,
        before=model.status.conditions,
        updates=[new],
        generation=model.generation,
    )

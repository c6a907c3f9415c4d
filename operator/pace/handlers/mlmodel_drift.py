"""The MLModel's drift step: its DriftDetected condition, mirrored from the DriftMonitors that
watch it.

Called by `pace.handlers.mlmodel.reconcile`. The monitors come from kopf's indexes (no LIST):
those whose modelRef names the model, with their verdicts (pace.core.drift.model_condition);
the phase becomes Degraded while a serving model drifts. A monitor's change wakes the model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import kopf
import pydantic

from pace.api.conditions import ConditionType
from pace.api.drift_monitor import DriftMonitor
from pace.api.mlmodel import MLModel
from pace.core import drift, status
from pace.handlers import indexes, reporting
from pace.handlers.reconciler import Context


def monitors_of(model: MLModel, found: dict[str, Any]) -> list[DriftMonitor]:
    monitors = []
    for name in indexes.names(found, indexes.MONITORS_BY_MODEL, (model.namespace, model.name)):
        body = indexes.one(found, indexes.MONITORS, (model.namespace, name))
        if body is None:
            continue
        try:
            monitors.append(DriftMonitor.from_body(body))
        except pydantic.ValidationError:
            continue  # it reports its own invalid spec
    return monitors


async def mirror(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """Set DriftDetected from the model's monitors when it changed."""
    verdicts = [
        (m.name, status.find(m.status.conditions, ConditionType.DRIFT_DETECTED))
        for m in monitors_of(model, ctx.indexes)
    ]
    old = status.find(model.status.conditions, ConditionType.DRIFT_DETECTED)
    new = drift.model_condition(verdicts, generation=model.generation, now=now, shown=old)
    reporting.show_model_condition(model, body, patch, new)

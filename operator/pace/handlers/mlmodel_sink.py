"""The MLModel's inference-log step: ``InferenceLogged`` shows batches of the model's records
that the sink could not encode and quarantined under the dead-letter prefix.

Called by `pace.handlers.mlmodel.reconcile`; the sink wakes the model when it quarantines. The
condition appears only once something was quarantined: False while the quarantine is newer
than the model's last written batch, True (with the count) once batches are written again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import kopf

from pace.api.conditions import Condition, ConditionType, Reason
from pace.api.mlmodel import MLModel
from pace.core import status
from pace.handlers import reporting
from pace.handlers.reconciler import Context


def condition(sink: Any, model: MLModel, *, now: datetime) -> Condition | None:
    """The condition the sink's quarantine record of this model asks for (None: nothing was
    quarantined since the sink started)."""
    found = sink.quarantined.get((model.namespace, model.name)) if sink is not None else None
    if found is None or not found.rows:
        return None
    where = sink.store.uri(found.last_key)
    counted = f"{found.rows} row(s) in {found.batches} batch(es) could not be encoded"
    written = sink.written_at.get((model.namespace, model.name), 0.0)
    if written > found.last_at:
        return status.condition(
            ConditionType.INFERENCE_LOGGED,
            "True",
            Reason.LOGGING,
            f"batches are written again; earlier {counted} and were quarantined (last at {where})",
            generation=model.generation,
            now=now,
        )
    return status.condition(
        ConditionType.INFERENCE_LOGGED,
        "False",
        Reason.QUARANTINED,
        f"{counted} and were quarantined; the last is at {where} ({found.last_error})",
        generation=model.generation,
        now=now,
    )


async def show(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """Set InferenceLogged when the sink's record of this model changed it."""
    new = condition(getattr(ctx.memo, "sink", None), model, now=now)
    reporting.show_model_condition(model, body, patch, new)

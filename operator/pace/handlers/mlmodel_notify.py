"""The MLModel's notifications step: keeps its webhooks' delivery task registered
(`pace.handlers.notifier`) and shows how they are doing as the ``Notified`` condition.

Called by `pace.handlers.mlmodel.reconcile`; the delivery task wakes the model when a webhook
starts or stops failing. The message stays the same while deliveries go well, so delivering
does not write status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import kopf

from pace.api.conditions import Condition, ConditionType, Reason
from pace.api.mlmodel import MLModel
from pace.core import status
from pace.handlers import reporting
from pace.handlers.notifier import Delivery
from pace.handlers.reconciler import Context


def condition(model: MLModel, deliveries: dict[str, Delivery], *, now: datetime) -> Condition:
    names = [w.name for w in model.spec.notifications.webhooks]
    failing = {n: d for n, d in deliveries.items() if d.error}
    if failing:
        text = "; ".join(
            f"webhook {n}: {d.error} ({d.failures} attempt(s); retrying with backoff)"
            for n, d in sorted(failing.items())
        )
        return status.condition(
            ConditionType.NOTIFIED,
            "False",
            Reason.DELIVERY_FAILING,
            text,
            generation=model.generation,
            now=now,
        )
    return status.condition(
        ConditionType.NOTIFIED,
        "True",
        Reason.DELIVERING,
        f"audit events go to webhook(s) {', '.join(names)} in order",
        generation=model.generation,
        now=now,
    )


async def show(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    notifier = getattr(ctx.memo, "notifier", None)
    if notifier is None:
        return
    deliveries = notifier.update(model)
    if not model.spec.notifications.webhooks:
        return
    reporting.show_model_condition(model, body, patch, condition(model, deliveries, now=now))

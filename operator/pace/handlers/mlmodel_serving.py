"""The MLModel's serving step: Ready follows the SeldonDeployment's own status.

"Serving" means the endpoint answers. A version put in the SeldonDeployment is not serving
until Seldon reports the deployment Available with a ready replica of the ``main``
predictor (`pace.core.seldon_status`); until then Ready is False (PredictorStarting, or
PredictorFailed with Seldon's description). Once serving, Ready stays True while ``main``
keeps a ready replica, so adding a canary or promoting a new version (Seldon reports
Creating while the old replicas answer) does not flap it. The SeldonDeployment's changes wake
the model (`wake_owner`), so nothing polls.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import kopf

from pace.api import constants
from pace.api.conditions import ConditionType
from pace.api.mlmodel import MLModel
from pace.core import seldon_status, status
from pace.handlers import indexes, reporting
from pace.handlers.reconciler import Context

SERVING = "Serving"


def predictor_readiness(
    model: MLModel, ctx: Context, predictor: str, *, serving: bool = False
) -> seldon_status.Readiness:
    """What Seldon says of one predictor of the model's SeldonDeployment."""
    sdep = indexes.one(ctx.indexes, indexes.SELDON_DEPLOYMENTS, (model.namespace, model.name))
    return seldon_status.readiness(sdep, [predictor], serving=serving)


async def follow(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """Set Ready from the SeldonDeployment's status once a version is in it."""
    current = model.status
    version = current.serving_version
    if version is None:
        return
    before = status.find(current.conditions, ConditionType.READY)
    was_serving = before is not None and before.status == "True"
    verdict = predictor_readiness(model, ctx, "main", serving=was_serving)
    if verdict.ready:
        cond = status.condition(
            ConditionType.READY,
            "True",
            SERVING,
            f"{version} is serving.",
            generation=model.generation,
            now=now,
        )
    else:
        cond = status.condition(
            ConditionType.READY,
            "False",
            verdict.reason,
            f"{version}: {verdict.message}",
            generation=model.generation,
            now=now,
        )
    reporting.report_model(
        body=body,
        patch=patch,
        before=current.conditions,
        updates=[cond],
        generation=model.generation,
    )


@kopf.on.event(*indexes.SELDON, labels=indexes.OURS, id="wake-owner")
async def wake_owner(memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> None:
    """A change of a SeldonDeployment wakes the MLModel of the same name."""
    memo.wakers.wake((constants.MLMODEL_PLURAL, namespace or "", name))

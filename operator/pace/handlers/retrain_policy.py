"""RetrainPolicy handlers: parse the spec, check model and monitor references, report."""

from __future__ import annotations

from typing import Any

import kopf

from pace.api import constants
from pace.api.retrain_policy import RetrainPolicy
from pace.handlers import reporting

KIND = constants.RETRAIN_POLICY_KIND
_RECHECK_SECONDS = 30.0


def _refs(policy: RetrainPolicy) -> list[tuple[str, str, str, str]]:
    refs = [
        (
            constants.MLMODEL_PLURAL,
            constants.MLMODEL_KIND,
            policy.spec.model_ref.name,
            "spec.modelRef",
        )
    ]
    if policy.spec.triggers.drift is not None:
        refs.append(
            (
                constants.DRIFT_MONITOR_PLURAL,
                constants.DRIFT_MONITOR_KIND,
                policy.spec.triggers.drift.monitor_ref.name,
                "spec.triggers.drift.monitorRef",
            )
        )
    return refs


@kopf.on.resume(constants.GROUP, constants.VERSION, constants.RETRAIN_POLICY_PLURAL)
@kopf.on.create(constants.GROUP, constants.VERSION, constants.RETRAIN_POLICY_PLURAL)
@kopf.on.update(constants.GROUP, constants.VERSION, constants.RETRAIN_POLICY_PLURAL)
@reporting.instrumented(KIND)
async def reconcile_retrain_policy(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **_: Any
) -> None:
    """Accept the spec; say whether the model and monitor exist (retry with backoff if not)."""
    policy = RetrainPolicy.from_body(body)
    await reporting.reconcile_references(
        kind=KIND,
        body=body,
        patch=patch,
        memo=memo,
        refs=_refs(policy),
        retry=retry,
        ready_message="Policy is armed.",
        raise_on_missing=True,
    )


@kopf.timer(
    constants.GROUP,
    constants.VERSION,
    constants.RETRAIN_POLICY_PLURAL,
    interval=_RECHECK_SECONDS,
    initial_delay=_RECHECK_SECONDS,
)
@reporting.instrumented(KIND)
async def recheck_retrain_policy_refs(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    """Notice a model or monitor deleted or created after the policy was accepted."""
    policy = RetrainPolicy.from_body(body)
    await reporting.reconcile_references(
        kind=KIND,
        body=body,
        patch=patch,
        memo=memo,
        refs=_refs(policy),
        retry=0,
        ready_message="Policy is armed.",
        raise_on_missing=False,
    )

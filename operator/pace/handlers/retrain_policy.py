"""RetrainPolicy spec handlers: parse the spec, check model and monitor references, report."""

from __future__ import annotations

from typing import Any

from pace.api import constants
from pace.api.retrain_policy import RetrainPolicy
from pace.handlers import reporting

KIND = constants.RETRAIN_POLICY_KIND


def references(body: Any) -> list[tuple[str, str, str, str]]:
    """The MLModel to retrain and, with a drift trigger, its DriftMonitor."""
    policy = RetrainPolicy.from_body(body)
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


reporting.watch_references(
    plural=constants.RETRAIN_POLICY_PLURAL,
    kind=KIND,
    refs=references,
    ready_message="Policy is armed.",
)

"""Typed models of the RetrainPolicy resource: when to retrain a model (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from pace.api.common import (
    DURATION_PATTERN,
    CamelModel,
    KubeObject,
    ObjectRef,
    cel,
    validations,
)
from pace.api.conditions import Condition
from pace.api.cron import cron_field


class ScheduleTrigger(CamelModel):
    """Retrain on a cron schedule."""

    cron: str = cron_field("Five-field cron expression or @daily-style macro (UTC).")


class DriftTrigger(CamelModel):
    """Retrain when a DriftMonitor keeps reporting drift."""

    monitor_ref: ObjectRef = Field(description="DriftMonitor watching the model.")
    min_share_drifted: float = Field(
        0.0,
        ge=0,
        le=1,
        description=(
            "Least share of drifted features (0-1) that counts, on top of the monitor's verdict."
        ),
    )
    consecutive_checks: int = Field(
        1,
        ge=1,
        le=1000,
        description=("Checks in a row that must report drift before the trigger fires."),
    )


class MetricTrigger(CamelModel):
    """Retrain when a PromQL expression crosses a threshold for a while."""

    query: str = Field(description="PromQL returning one value.", min_length=1, max_length=4096)
    threshold: float = Field(description="Value compared with the query result.")
    operator: Literal["above", "below"] = Field(
        "below", description="Fire when the value is above or below the threshold."
    )
    for_: str = Field(
        "0s",
        alias="for",
        pattern=DURATION_PATTERN,
        description=("How long the condition must hold before the trigger fires."),
    )


class NewDataTrigger(CamelModel):
    """Retrain when enough new rows arrive under a prefix."""

    prefix: str = Field(
        description="s3://bucket/prefix/ watched for new CSV or Parquet objects.",
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.*$",
        max_length=2048,
    )
    min_rows: int = Field(1000, ge=1, description="New rows needed to fire.")


LIVE_METRICS = ("accuracy", "f1_macro", "log_loss", "mae", "rmse")


class PerformanceTrigger(CamelModel):
    """Retrain when the serving version's quality on labelled live traffic crosses a bound
    (its ``status.versions[].live``, measured over the model's ``spec.liveQuality.window``)."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.below) != has(self.above)",
                "set exactly one of below and above",
            ),
        )
    }

    metric: str = Field(
        description="Live metric: " + ", ".join(LIVE_METRICS) + ".",
        json_schema_extra={"enum": list(LIVE_METRICS)},
    )
    below: float | None = Field(None, description="Fire when the metric is below this value.")
    above: float | None = Field(None, description="Fire when the metric is above this value.")
    min_rows: int = Field(
        50, ge=1, le=10_000_000, description="Labelled predictions needed before it can fire."
    )


class Triggers(CamelModel):
    """Conditions that request a retrain; any one of them fires."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.schedule) || has(self.drift) || has(self.metric) || has(self.newData)"
                " || has(self.performance)",
                "at least one trigger (schedule, drift, metric, newData, performance) is required",
            ),
        )
    }

    schedule: ScheduleTrigger | None = Field(None, description="Cron schedule.")
    drift: DriftTrigger | None = Field(None, description="Drift verdict of a DriftMonitor.")
    metric: MetricTrigger | None = Field(None, description="A PromQL threshold.")
    new_data: NewDataTrigger | None = Field(None, description="New rows under a prefix.")
    performance: PerformanceTrigger | None = Field(
        None, description="Live quality of the serving version (labelled predictions)."
    )


class RetrainPolicySpec(CamelModel):
    """Desired behaviour of a RetrainPolicy."""

    model_ref: ObjectRef = Field(description="MLModel to retrain, in the same namespace.")
    triggers: Triggers = Field(description="What requests a retrain.")
    cooldown: str = Field(
        "1h",
        pattern=DURATION_PATTERN,
        description=("Least time between two retrains started by this policy."),
    )
    max_concurrent_runs: int = Field(
        1, ge=1, le=10, description=("Training runs of the model this policy may have in flight.")
    )
    auto_promote: bool = Field(
        True,
        description=(
            "Roll a validated candidate out automatically; false waits for `pace promote`."
        ),
    )


class LastTrigger(CamelModel):
    """The most recent firing."""

    time: datetime = Field(description="When the trigger fired.")
    reason: str = Field(description="Which trigger fired and why.")
    run: str | None = Field(None, description="Training run it requested.")
    request: str | None = Field(
        None, description="Id of the retrain request put on the MLModel (policy#count)."
    )


class RetrainPolicyStatus(CamelModel):
    """Observed state of a RetrainPolicy."""

    observed_generation: int | None = Field(
        None, description=("metadata.generation the operator last reconciled.")
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready and ModelFound.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    last_trigger: LastTrigger | None = Field(None, description="The most recent firing.")
    trigger_count: int = Field(0, ge=0, description="Times a trigger fired.")
    runs_started: int = Field(0, ge=0, description="Retrains requested.")
    consecutive_drift_checks: int = Field(
        0, ge=0, description=("Drift checks in a row that reported drift (restart-safe counter).")
    )
    last_drift_check: datetime | None = Field(
        None, description="The monitor's lastCheck counted last (each check counts once)."
    )
    drift_reference_version: str | None = Field(
        None, description="Serving version whose reference the drift streak was measured against."
    )
    metric_breach_since: datetime | None = Field(
        None, description="When the metric trigger's value first crossed its threshold."
    )
    new_data_since: datetime | None = Field(
        None, description="Objects under newData.prefix modified after this time are new."
    )
    holding: str | None = Field(
        None, description="Why the policy does not fire now (no trigger due, cooldown, ...)."
    )


class RetrainPolicy(KubeObject):
    """A RetrainPolicy object as the handlers see it."""

    spec: RetrainPolicySpec
    status: RetrainPolicyStatus = Field(default_factory=RetrainPolicyStatus)

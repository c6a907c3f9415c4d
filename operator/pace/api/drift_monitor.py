"""Typed models of the DriftMonitor resource: how to watch a model's live data (pure)."""

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
    nested,
    validations,
)
from pace.api.conditions import Condition

_S3_PREFIX = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"


class ReferenceSpec(CamelModel):
    """The data live traffic is compared with."""

    uri: str | None = Field(
        None,
        pattern=_S3_PREFIX,
        max_length=2048,
        description=(
            "s3:// URI of a reference dataset; the serving version's training snapshot when "
            "omitted."
        ),
    )


class WindowSpec(CamelModel):
    """How much recent traffic one check reads: rows or duration, not both."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "has(self.rows) != has(self.duration)",
                "set exactly one of window.rows and window.duration",
            ),
        )
    }

    rows: int | None = Field(None, ge=10, le=10_000_000, description="Newest rows to read.")
    duration: str | None = Field(
        None,
        pattern=DURATION_PATTERN,
        description=("Read the rows logged within this duration, e.g. 15m."),
    )


class SourceSpec(CamelModel):
    """Where the live data is read from."""

    uri: str | None = Field(
        None,
        pattern=_S3_PREFIX,
        max_length=2048,
        description=("s3:// prefix of the inference log; the model's own log when omitted."),
    )
    window: WindowSpec = Field(
        default_factory=lambda: WindowSpec(rows=500),
        description=("Rows or duration read per check."),
        json_schema_extra={"default": {"rows": 500}},
    )
    min_rows: int = Field(
        100, ge=1, description=("A window with fewer rows is reported as too small, not judged.")
    )


class DetectorSpec(CamelModel):
    """The alibi-detect detector."""

    type: Literal["ks", "chisquare", "tabular", "cvm", "classifier", "mmd"] = Field(
        "tabular",
        description=(
            "ks, chisquare, tabular (ks and chi-square per feature), cvm, classifier or mmd "
            "(needs torch)."
        ),
    )
    p_value: float = Field(
        0.05, gt=0, lt=1, description=("Significance level, strictly between 0 and 1.")
    )
    correction: Literal["bonferroni", "fdr"] = Field(
        "bonferroni", description="Multivariate correction: bonferroni or fdr."
    )


class DriftMonitorSpec(CamelModel):
    """Desired behaviour of a DriftMonitor."""

    model_ref: ObjectRef = Field(description="MLModel whose traffic is watched.")
    reference: ReferenceSpec = nested(ReferenceSpec, "Reference data.")
    source: SourceSpec = nested(SourceSpec, "Live data.")
    detector: DetectorSpec = nested(DetectorSpec, "Detector and significance.")
    interval: str = Field(
        "5m", pattern=DURATION_PATTERN, description="Time between checks, e.g. 10s or 5m."
    )


class FeatureDrift(CamelModel):
    """Drift of one feature."""

    name: str = Field(description="Feature name.")
    p_value: float = Field(description="p-value of the feature's test.")
    distance: float = Field(description="Test statistic (distance) of the feature.")


class DriftMonitorStatus(CamelModel):
    """Observed state of a DriftMonitor."""

    observed_generation: int | None = Field(
        None, description=("metadata.generation the operator last reconciled.")
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, ModelFound and DriftDetected.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    last_check: datetime | None = Field(None, description="When the last check ran.")
    drift_detected: bool | None = Field(None, description="Verdict of the last check.")
    share_drifted: float | None = Field(
        None, ge=0, le=1, description="Share of features that drifted (0-1)."
    )
    window_rows: int | None = Field(None, ge=0, description="Rows in the last window.")
    reference_version: str | None = Field(None, description="Version whose reference was used.")
    top_features: list[FeatureDrift] = Field(
        default_factory=list,
        max_length=20,
        description=("Most drifted features, lowest p-value first."),
    )


class DriftMonitor(KubeObject):
    """A DriftMonitor object as the handlers see it."""

    spec: DriftMonitorSpec
    status: DriftMonitorStatus = Field(default_factory=DriftMonitorStatus)

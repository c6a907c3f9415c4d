"""Typed models of the MLModel resource: what to train and how to serve it (pure).

Parsed by the handlers (`MLModel.from_body`) and turned into the CRD schema by
`pace.api.crd_schema`. Field descriptions here are what `kubectl explain` shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from pace.api.common import (
    DURATION_PATTERN,
    CamelModel,
    KubeObject,
    cel,
    nested,
    validations,
)
from pace.api.conditions import Condition
from pace.api.cron import cron_field

BUILTIN_DATASETS = ("wine", "breast_cancer", "diabetes", "iris")
ALGORITHMS = (
    "auto",
    "logistic_regression",
    "random_forest",
    "gradient_boosting",
    "extra_trees",
    "svm",
    "knn",
    "decision_tree",
    "linear_regression",
    "ridge",
    "lasso",
)
_DATASET_URI_RULE = (
    "self.uri.matches('^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+[.](csv|parquet)$') || "
    "self.uri.matches('^sklearn://(" + "|".join(BUILTIN_DATASETS) + ")$')"
)

FeatureName = Annotated[str, Field(min_length=1, max_length=256)]
Task = Literal["classification", "regression"]
Stage = Literal["candidate", "canary", "production", "archived", "rejected", "superseded"]
Phase = Literal["Pending", "Training", "Validating", "Canary", "Serving", "Degraded", "Failed"]


class RecentWindow(CamelModel):
    """Which recent labelled rows a run takes: by age or by count."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel("has(self.duration) != has(self.rows)", "set exactly one of duration and rows"),
        )
    }

    duration: str | None = Field(
        None,
        pattern=DURATION_PATTERN,
        description="Rows predicted (or files written) at most this long before the run, e.g. 24h.",
    )
    rows: int | None = Field(
        None, ge=1, le=10_000_000, description="The newest this many labelled rows."
    )


class RecentDataSpec(CamelModel):
    """Fresh labelled data a run trains on besides (or instead of) dataset.uri."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.source == 'inference-log' || "
                "self.source.matches('^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.*$')",
                "source must be inference-log or s3://<bucket>/<prefix>",
                field_path=".source",
            ),
        )
    }

    source: str = Field(
        "inference-log",
        max_length=2048,
        description=(
            "inference-log: the model's logged predictions joined with their labels; or an "
            "s3://bucket/prefix/ of labelled CSV/Parquet files (features and the target)."
        ),
    )
    window: RecentWindow = Field(
        default_factory=lambda: RecentWindow(duration="24h"),
        description="Which rows: {duration: 24h} or {rows: N}.",
        json_schema_extra={"default": {"duration": "24h"}},
    )
    mode: Literal["append", "replace"] = Field(
        "append", description="append: base data plus the recent rows; replace: recent alone."
    )
    min_rows: int = Field(
        20,
        ge=1,
        description="Fewer recent rows than this: the run trains on the base data alone.",
    )


class DatasetSpec(CamelModel):
    """Where the training data comes from."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                _DATASET_URI_RULE,
                "uri must be s3://<bucket>/<key>.csv|.parquet or sklearn://<name> with name one "
                "of " + ", ".join(BUILTIN_DATASETS),
                field_path=".uri",
            ),
            cel(
                "!has(self.features) || !(self.target in self.features)",
                "target must not be listed in features",
                field_path=".features",
            ),
            cel(
                "!has(self.categoricalFeatures) || !has(self.features) || "
                "self.categoricalFeatures.all(f, f in self.features)",
                "every categoricalFeatures entry must be listed in features",
                field_path=".categoricalFeatures",
            ),
        )
    }

    uri: str = Field(
        description=(
            "Dataset location: s3://bucket/key.csv or .parquet on the configured object store, or "
            "sklearn://<name> for a bundled scikit-learn dataset ("
            + ", ".join(BUILTIN_DATASETS)
            + ")."
        ),
        min_length=1,
        max_length=2048,
    )
    target: str = Field(description="Column to predict.", min_length=1, max_length=256)
    features: list[FeatureName] | None = Field(
        None,
        description="Columns used as inputs; all columns but the target when omitted.",
        max_length=500,
    )
    categorical_features: list[FeatureName] | None = Field(
        None,
        description="Subset of features that are categorical (drift uses chi-square).",
        max_length=500,
    )
    recent: RecentDataSpec | None = Field(
        None, description="Fresh labelled data each run trains on besides (or instead of) uri."
    )


class SearchSpec(CamelModel):
    """Hyperparameter search."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.strategy) || self.strategy == 'none' || has(self.space)",
                "space is required when strategy is grid or random",
                field_path=".space",
            ),
        )
    }

    strategy: Literal["none", "grid", "random"] = Field(
        "none", description="Search strategy: none, grid or random."
    )
    space: dict[str, list[Any]] | None = Field(
        None,
        description="Hyperparameter name to the list of values to try.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    trials: int = Field(10, ge=1, le=1000, description="Candidates tried by random search.")


class ValidationSpec(CamelModel):
    """How the held-out evaluation is made."""

    test_size: float = Field(
        0.2,
        gt=0,
        lt=1,
        description=("Fraction of rows held out for evaluation, strictly between 0 and 1."),
    )
    cv_folds: int = Field(5, ge=2, le=20, description="Cross-validation folds for search.")
    seed: int = Field(42, ge=0, description="Random seed for splits and estimators.")
    group_by: str | None = Field(
        None, description=("Column whose values never straddle train and test (grouped split).")
    )


class TrainingSpec(CamelModel):
    """What to train."""

    algorithm: str = Field(
        "auto",
        description=(
            "scikit-learn estimator: " + ", ".join(ALGORITHMS) + ". auto compares several."
        ),
        json_schema_extra={"enum": list(ALGORITHMS)},
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Estimator keyword arguments.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True, "default": {}},
    )
    search: SearchSpec = nested(SearchSpec, "Hyperparameter search settings.")
    validation: ValidationSpec = nested(ValidationSpec, "Hold-out and cross-validation settings.")


class MetricGate(CamelModel):
    """A bound on one evaluation metric."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel("has(self.min) || has(self.max)", "a gate needs min or max"),
            cel(
                "!has(self.min) || !has(self.max) || self.min <= self.max",
                "min must not exceed max",
                field_path=".min",
            ),
        )
    }

    metric: str = Field(
        description="Metric name, e.g. accuracy, f1, roc_auc, r2, rmse.",
        min_length=1,
        max_length=64,
    )
    min: float | None = Field(None, description="Lowest acceptable value.")
    max: float | None = Field(None, description="Highest acceptable value.")


class FairnessGate(CamelModel):
    """Optional fairness check on a sensitive feature."""

    sensitive_feature: str = Field(description="Column that defines the groups.", min_length=1)
    metric: Literal["demographic_parity_difference", "accuracy_difference"] = Field(
        "demographic_parity_difference", description="Disparity measure between groups."
    )
    max_disparity: float = Field(0.1, ge=0, le=1, description="Largest allowed disparity.")


class QualityGates(CamelModel):
    """What a candidate must reach before it is rolled out."""

    metrics: list[MetricGate] = Field(
        default_factory=list, max_length=32, description="Bounds on evaluation metrics."
    )
    min_delta: float = Field(
        0.0,
        description=(
            "Least improvement of the primary metric over the serving version (may be negative)."
        ),
    )
    primary_metric: str | None = Field(
        None,
        description=(
            "Metric compared with the serving version; accuracy or r2 by task when omitted."
        ),
    )
    fairness: FairnessGate | None = Field(None, description="Optional fairness check.")


class ExplainabilitySpec(CamelModel):
    """How each version is explained."""

    method: Literal["permutation", "kernel_shap", "anchors"] = Field(
        "permutation", description="Explanation method: permutation, kernel_shap or anchors."
    )
    samples: int = Field(100, ge=1, le=100000, description="Rows explained.")


class AnalysisCheck(CamelModel):
    """A PromQL check run at every canary interval."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel("has(self.min) || has(self.max)", "an analysis check needs min or max"),
        )
    }

    name: str = Field(
        description="Name of the check, unique in the list.", min_length=1, max_length=63
    )
    query: str = Field(
        description=("PromQL returning one value; $namespace, $model, $predictor are substituted."),
        min_length=1,
        max_length=4096,
    )
    min: float | None = Field(None, description="The check fails below this value.")
    max: float | None = Field(None, description="The check fails above this value.")


class LiveGate(CamelModel):
    """Judge the canary on labelled live requests against main (see README: the gate's
    statistics)."""

    metric: Literal["accuracy", "mae"] = Field(
        "accuracy",
        description=(
            "accuracy (classification: one-sided two-proportion z-test) or mae (regression: "
            "one-sided Mann-Whitney U on per-request absolute errors)."
        ),
    )
    min_labelled_rows: int = Field(
        30, ge=1, le=1_000_000, description="Labelled requests needed on each side to judge."
    )
    margin: float = Field(
        0.0,
        ge=0,
        description="How much worse than main the canary may be (accuracy points, or MAE units).",
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Significance level: p below it fails the check."
    )
    max_wait: str = Field(
        "10m",
        pattern=DURATION_PATTERN,
        description="How long a step may wait for enough labels before onMaxWait acts.",
    )
    on_max_wait: Literal["rollback", "promote"] = Field(
        "rollback",
        description=(
            "What ends a canary still without enough labels after maxWait: rollback (never "
            "promote without evidence) or promote."
        ),
    )


class CanarySpec(CamelModel):
    """Progressive, metric-gated rollout of a candidate."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.strategy) || self.strategy != 'shadow' || has(self.liveGate)",
                "strategy shadow needs a liveGate (a shadow is judged on live labels only)",
                field_path=".liveGate",
            ),
            cel(
                "!has(self.steps) || self.steps.isSorted()",
                "steps must be strictly increasing",
                field_path=".steps",
            ),
            cel(
                "!has(self.steps) || self.steps[self.steps.size() - 1] == 100",
                "steps must end at 100",
                field_path=".steps",
            ),
        )
    }

    strategy: Literal["progressive", "shadow"] = Field(
        "progressive",
        description=(
            "progressive: the candidate takes the steps' share of traffic. shadow: it gets a "
            "mirrored copy of live traffic, its answers are logged and never returned, and it "
            "is judged by the liveGate before any user sees it; then afterShadow."
        ),
    )
    after_shadow: Literal["promote", "progressive"] = Field(
        "promote",
        description="After a passed shadow: promote at once, or go through the steps.",
    )
    steps: list[int] = Field(
        default_factory=lambda: [10, 25, 50, 100],
        min_length=1,
        max_length=20,
        description="Canary traffic percentages, strictly increasing, ending at 100.",
        json_schema_extra={
            "items": {"type": "integer", "minimum": 1, "maximum": 100},
            "x-kubernetes-list-type": "set",
            "default": [10, 25, 50, 100],
        },
    )
    interval: str = Field(
        "30s", pattern=DURATION_PATTERN, description="Time between analysis runs, e.g. 30s or 5m."
    )
    analysis: list[AnalysisCheck] | None = Field(
        None,
        max_length=16,
        description=(
            "Checks run every interval; the canary's success rate and p99 latency when omitted."
        ),
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    max_failed_checks: int = Field(
        2,
        ge=0,
        le=100,
        description=("Failed analysis runs tolerated before the canary is rolled back."),
    )
    paused: bool = Field(False, description="Hold the canary at its current step.")
    progress_deadline: str = Field(
        "10m",
        pattern=DURATION_PATTERN,
        description=(
            "How long a canary may hold without a verdict (no traffic reaching it, or no "
            "metrics) before onProgressDeadline acts, e.g. 10m."
        ),
    )
    on_progress_deadline: Literal["rollback", "promote"] = Field(
        "rollback",
        description=(
            "What ends a canary stuck past progressDeadline: rollback (the candidate is "
            "rejected) or promote (it is served without a verdict)."
        ),
    )
    live_gate: LiveGate | None = Field(
        None,
        description=(
            "Also judge the canary on labelled live requests against main at every analysis."
        ),
    )


class LiveQualitySpec(CamelModel):
    """How each serving version's live quality is measured from labelled predictions."""

    window: str = Field(
        "1h",
        pattern=DURATION_PATTERN,
        description=(
            "Predictions made within this window are judged on the labels that arrived for "
            "them (feedback, the labels API), e.g. 1h or 24h."
        ),
    )
    interval: str = Field(
        "30s", pattern=DURATION_PATTERN, description="Time between measurements, e.g. 30s."
    )


class RetentionSpec(CamelModel):
    """How long the operator keeps what accumulates in the object store."""

    inference_log: str = Field(
        "168h",
        pattern=DURATION_PATTERN,
        max_length=32,
        description=(
            "Logged requests, responses and labels older than this are deleted from the bucket "
            "(whole day partitions at once), e.g. 168h. At least liveQuality.window and a "
            "dataset.recent duration window; a DriftMonitor reading a longer duration keeps "
            "the log that long."
        ),
    )


class Webhook(CamelModel):
    """Where one copy of the model's audit events goes."""

    name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="Identifies the webhook (its delivery cursor and metrics), e.g. team-slack.",
    )
    url: str = Field(
        pattern=r"^https?://[^\s]+$",
        max_length=2048,
        description="http(s) URL each event is POSTed to.",
    )
    format: Literal["json", "slack"] = Field(
        "json",
        description=(
            "json: the audit record as JSON; slack: a Slack-compatible {text, blocks} "
            "message (incoming webhooks, Mattermost, Rocket.Chat)."
        ),
    )
    signing_key: str | None = Field(
        None,
        pattern=r"^[-._a-zA-Z0-9]+$",
        max_length=253,
        description=(
            "A key of the Secret named by the operator's PACE_NOTIFICATIONS_SECRET (default "
            "pace-notifications) in the model's namespace: its value signs each request, "
            "header X-Pace-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>."
        ),
    )
    events: list[Annotated[str, Field(pattern=r"^[A-Z][A-Za-z]+$", max_length=64)]] = Field(
        default_factory=list,
        max_length=32,
        description=(
            "Audit event types to send, e.g. [Promoted, RolledBack, TrainingFailed]; empty "
            "sends every event."
        ),
    )


IMPORTED_MODEL_FILES = ("joblib", "pkl", "pickle")


class ImportedModelSpec(CamelModel):
    """A model trained elsewhere, registered and rolled out like a trained one.

    Loading a pickle runs code: the operator never loads it; the pipeline step does, in its
    own process (a Pod on Kubeflow), with the step's store keys. Import only artifacts from
    people you would let run code there."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.uri.matches('^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(.+[.]("
                + "|".join(IMPORTED_MODEL_FILES)
                + ")|(.+/)?)$')",
                "uri must be s3://<bucket>/<key>.joblib|.pkl|.pickle, or a folder "
                "s3://<bucket>/<prefix>/ holding model.joblib",
                field_path=".uri",
            ),
        )
    }

    uri: str = Field(
        min_length=1,
        max_length=2048,
        description=(
            "The fitted model: s3://bucket/key.joblib (or .pkl, .pickle) on the configured "
            "object store, or a folder s3://bucket/prefix/ holding model.joblib (the layout "
            "Seldon's SKLearn server reads)."
        ),
    )
    format: Literal["sklearn"] = Field(
        "sklearn",
        description=(
            "sklearn: a joblib/pickle of a fitted scikit-learn estimator or pipeline that takes "
            "the dataset's features in order (predict, and predict_proba for classification)."
        ),
    )


_PREFIX_RULE = "self.matches('^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(.+/)?$')"


class BatchSpec(CamelModel):
    """Scheduled batch scoring: new files under ``input`` scored by a version of the model."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.input.replace('s3://', '') != self.output.replace('s3://', '')",
                "output must differ from input (predictions must not be read as new input)",
                field_path=".output",
            ),
        )
    }

    schedule: str = cron_field(
        "When to score: five-field cron expression or @daily-style macro (UTC)."
    )
    input: str = Field(
        max_length=2048,
        description=(
            "s3://bucket/prefix/ of CSV or Parquet files with the model's features (a target "
            "column, if present, is kept but not used). Each file is scored once."
        ),
        json_schema_extra=validations(
            cel(_PREFIX_RULE, "input must be s3://<bucket>/<prefix>/ (ending in /)")
        ),
    )
    output: str = Field(
        max_length=2048,
        description=(
            "s3://bucket/prefix/ the predictions go to: <output><input key relative to "
            "input>.predictions.parquet, with the version and run in every row."
        ),
        json_schema_extra=validations(
            cel(_PREFIX_RULE, "output must be s3://<bucket>/<prefix>/ (ending in /)")
        ),
    )
    version: str = Field(
        "serving",
        pattern=r"^(serving|v[0-9]+)$",
        description="Which version scores: serving (the one serving most traffic) or vN.",
    )


class BatchFailure(CamelModel):
    """One input file a batch run could not score."""

    file: str = Field(description="The input file (s3:// URI).")
    message: str = Field(description="Why.")


class BatchRun(CamelModel):
    """The latest batch scoring run."""

    run: str | None = Field(None, description="Pipeline run name (none when skipped).")
    state: Literal["Pending", "Running", "Succeeded", "Failed", "Skipped"] = Field(
        description="Skipped: nothing could score at that time (the message says why)."
    )
    version: str | None = Field(None, description="The version that scored.")
    scheduled_at: datetime = Field(description="The schedule time this run is for.")
    started_at: datetime | None = Field(None, description="When it was submitted.")
    finished_at: datetime | None = Field(None, description="When it ended.")
    files_scored: int = Field(0, ge=0, description="Files scored by this run.")
    files_skipped: int = Field(
        0, ge=0, description="Files under input already scored by an earlier run."
    )
    rows_scored: int = Field(0, ge=0, description="Rows scored by this run.")
    failures: list[BatchFailure] = Field(
        default_factory=list,
        max_length=20,
        description="Files that could not be scored (the first 20); scored again next run.",
    )
    failed_step: str | None = Field(None, description="The failing step, when the run failed.")
    message: str | None = Field(None, description="Summary, or why it failed.")
    report: str | None = Field(None, description="s3:// URI of the run's report (JSON).")


class BatchStatus(CamelModel):
    """Where scheduled batch scoring stands."""

    schedule: str = Field(description="The spec.batch.schedule nextRunAt was computed from.")
    next_run_at: datetime = Field(description="The next schedule time.")
    last: BatchRun | None = Field(None, description="The latest run.")


class NotificationsSpec(CamelModel):
    """Webhooks that receive the model's audit events, in order, each once."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.webhooks) || "
                "self.webhooks.all(w, self.webhooks.exists_one(x, x.name == w.name))",
                "webhook names must be unique",
                field_path=".webhooks",
            ),
        )
    }

    webhooks: list[Webhook] = Field(
        default_factory=list, max_length=8, description="Where the events go."
    )


class ServingSpec(CamelModel):
    """How the model is served."""

    replicas: int = Field(1, ge=0, le=100, description="Replicas per predictor.")
    protocol: Literal["seldon", "v2"] = Field("seldon", description="Inference protocol.")
    canary: CanarySpec = nested(CanarySpec, "Canary rollout of new versions.")


class MLModelSpec(CamelModel):
    """Desired state of an MLModel."""

    model_config = CamelModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.retention) || !has(self.liveQuality) || "
                "duration(self.retention.inferenceLog) >= duration(self.liveQuality.window)",
                "retention.inferenceLog must be at least liveQuality.window",
                field_path=".retention.inferenceLog",
            ),
            cel(
                "!has(self.retention) || !has(self.dataset.recent) || "
                "!has(self.dataset.recent.window.duration) || "
                "duration(self.retention.inferenceLog) >= "
                "duration(self.dataset.recent.window.duration)",
                "retention.inferenceLog must be at least dataset.recent.window.duration",
                field_path=".retention.inferenceLog",
            ),
            cel(
                "!has(self.model) || !has(self.dataset.recent)",
                "dataset.recent feeds training; an imported model (spec.model) is evaluated on "
                "dataset.uri alone",
                field_path=".dataset.recent",
            ),
        )
    }

    task: Task = Field(description="Learning task: classification or regression.")
    dataset: DatasetSpec = Field(description="Training data.")
    training: TrainingSpec = nested(TrainingSpec, "Estimator, hyperparameters and search.")
    model: ImportedModelSpec | None = Field(
        None,
        description=(
            "A model trained elsewhere, instead of training one: registered as a version "
            "(lineage kind imported, with its sha256), evaluated on dataset's held-out split "
            "(training.validation) for the quality gates and the drift reference, and rolled "
            "out like a trained one. training's estimator fields are then unused."
        ),
    )
    batch: BatchSpec | None = Field(
        None,
        description=(
            "Scheduled batch scoring of new files under an s3:// prefix by the serving (or a "
            "named) version, through a compiled pipeline; the scored rows also feed the "
            "inference log (drift covers batch traffic)."
        ),
    )
    quality_gates: QualityGates = nested(QualityGates, "Gates a candidate must pass.")
    explainability: ExplainabilitySpec = nested(ExplainabilitySpec, "Explanation of each version.")
    serving: ServingSpec = nested(ServingSpec, "Serving and canary settings.")
    live_quality: LiveQualitySpec = nested(
        LiveQualitySpec, "Live quality of the serving versions, from labelled predictions."
    )
    retention: RetentionSpec = nested(RetentionSpec, "What the operator keeps, and how long.")
    notifications: NotificationsSpec = nested(
        NotificationsSpec,
        "Webhooks that receive each audit event (training, gates, canary steps, promotion, "
        "rollback, retrain fired), in order, each once.",
    )


class LiveGateResult(CamelModel):
    """The live gate's last verdict, with its figures."""

    verdict: Literal["passed", "failed", "inconclusive"] = Field(description="The verdict.")
    metric: str = Field(description="accuracy or mae.")
    canary: float | None = Field(None, description="The canary's value on labelled requests.")
    main: float | None = Field(None, description="Main's value on labelled requests.")
    rows_canary: int = Field(0, ge=0, description="Labelled requests the canary answered.")
    rows_main: int = Field(0, ge=0, description="Labelled requests main answered.")
    statistic: float | None = Field(None, description="z (accuracy) or U (mae).")
    p_value: float | None = Field(None, description="One-sided p-value.")


class CanaryState(CamelModel):
    """Restart-safe canary progress (Flagger-style counters)."""

    weight: int = Field(0, ge=0, le=100, description="Traffic percent sent to the canary.")
    step: int = Field(0, ge=0, description="Index into spec.serving.canary.steps.")
    checks_passed: int = Field(0, ge=0, description="Analysis runs passed at this version.")
    checks_failed: int = Field(0, ge=0, description="Analysis runs failed at this version.")
    last_step_time: datetime | None = Field(None, description="When the current step began.")
    last_check_time: datetime | None = Field(None, description="When the analysis last ran.")
    holding: str | None = Field(
        None, description="Why the canary holds its step (NoTraffic, MetricsUnavailable, ...)."
    )
    holding_since: datetime | None = Field(
        None, description="Since when it holds without a verdict (progressDeadline counts it)."
    )
    live: LiveGateResult | None = Field(
        None, description="The live gate's last verdict (spec.serving.canary.liveGate)."
    )
    shadow: bool = Field(
        False, description="The candidate runs as a shadow (mirrored traffic, answers unused)."
    )


class ConfidenceInterval(CamelModel):
    """A two-sided confidence interval of one live metric."""

    metric: str = Field(description="The metric it bounds (accuracy, or mae for regression).")
    low: float = Field(description="Lower bound.")
    high: float = Field(description="Upper bound.")
    level: float = Field(0.95, gt=0, lt=1, description="Confidence level.")


class LiveMetrics(CamelModel):
    """A version's quality on live traffic: its predictions joined with their labels."""

    metrics: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "accuracy, f1_macro, log_loss (classification) or mae, rmse (regression) over the "
            "labelled rows."
        ),
    )
    rows: int = Field(0, ge=0, description="Labelled predictions the metrics are computed on.")
    window: str = Field(description="The window of predictions judged (spec.liveQuality).")
    interval: ConfidenceInterval | None = Field(
        None, description="95 % interval of accuracy (Wilson) or MAE (normal)."
    )
    updated_at: datetime | None = Field(None, description="When these figures last changed.")


class LiveLabels(CamelModel):
    """What the last live measurement read, and the labels it could not use."""

    summary: str | None = Field(
        None, description="The serving version's live figure, for kubectl get (LIVE)."
    )
    labels: int = Field(0, ge=0, description="Distinct labelled rows read in the window.")
    duplicates: int = Field(
        0, ge=0, description="Labels given again for a labelled row (the newest one counts)."
    )
    unmatched: int = Field(
        0,
        ge=0,
        description=(
            "Labels naming no logged prediction of the window (unknown id, or a prediction "
            "older than the window); kept in the store."
        ),
    )
    pending: int = Field(
        0, ge=0, description="Labels under a minute old whose prediction is not logged yet."
    )
    measured_at: datetime | None = Field(None, description="When these counts last changed.")


class VersionRecord(CamelModel):
    """One trained version and where it stands."""

    version: str = Field(description="Version id, e.g. v3.")
    stage: Stage = Field(
        description="candidate, canary, production, archived, rejected or superseded."
    )
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Evaluation metrics of this version."
    )
    artifact_uri: str | None = Field(None, description="s3:// URI of the model artifact.")
    data_hash: str | None = Field(None, description="Hash of the training data.")
    spec_hash: str | None = Field(None, description="Hash of the training-relevant spec.")
    pipeline_run: str | None = Field(None, description="Pipeline run that produced it.")
    created_at: datetime | None = Field(None, description="When it was registered.")
    trigger: str | None = Field(None, description="Why it was trained (create, drift, ...).")
    live: LiveMetrics | None = Field(
        None, description="Quality on live labelled traffic while it served (spec.liveQuality)."
    )
    recent_rows: int | None = Field(
        None, ge=0, description="Recent labelled rows it was trained on (spec.dataset.recent)."
    )
    data_note: str | None = Field(
        None, description="What the training data was made of (base and recent rows)."
    )


RunPhase = Literal["Queued", "Pending", "Running", "Succeeded", "Failed", "Superseded"]
IN_FLIGHT: tuple[RunPhase, ...] = ("Pending", "Running")
ACTIVE: tuple[RunPhase, ...] = ("Queued", "Pending", "Running")


class TrainingRun(CamelModel):
    """The latest training run (restart-safe: a restarted operator resumes watching it)."""

    run: str = Field(description="Pipeline run name (deterministic: model, version, spec hash).")
    version: str = Field(description="Version the run registers.")
    spec_hash: str = Field(description="Hash of the training spec the run was compiled from.")
    trigger: str = Field(description="Why it runs: create, spec-change, or a retrain reason.")
    backend: str = Field(description="Pipeline backend: local or kfp.")
    state: RunPhase = Field(
        description=(
            "Queued (waiting for a slot), Pending, Running, Succeeded, Failed or Superseded "
            "(a newer spec replaced it)."
        )
    )
    position: int | None = Field(
        None, ge=1, description="Place in the operator's training queue while Queued."
    )
    step: str | None = Field(None, description="Pipeline step running now (or last run).")
    failed_step: str | None = Field(None, description="Step that failed, if any.")
    message: str | None = Field(None, description="Failure message or result summary.")
    attempts: int = Field(
        1, ge=1, description="Submissions of this run (a lost run is resubmitted, at most 3)."
    )
    retries: int = Field(
        0,
        ge=0,
        description=(
            "Resubmissions after a transient failure (the store or network briefly away), "
            "at most 4, 10 s, 20 s, 40 s and 80 s after the failure."
        ),
    )
    retry_at: datetime | None = Field(
        None, description="When a run that failed transiently is submitted again."
    )
    request: str | None = Field(
        None, description="Retrain request that started the run (RetrainPolicy or pace retrain)."
    )
    auto_promote: bool = Field(
        True, description="Roll the candidate out when it passes its gates; false waits."
    )
    started_at: datetime | None = Field(None, description="When the run was requested.")
    submitted_at: datetime | None = Field(
        None, description="When it was last submitted to the pipeline backend."
    )
    finished_at: datetime | None = Field(None, description="When the run ended.")


class MLModelStatus(CamelModel):
    """Observed state of an MLModel; written by the operator only."""

    phase: Phase | None = Field(
        None,
        description=(
            "Summary derived from the conditions, for kubectl get. Never used for decisions."
        ),
    )
    observed_generation: int | None = Field(
        None, description=("metadata.generation the operator last reconciled.")
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Trained, Validated, Deployed, CanaryHealthy, Ready, DriftDetected.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    serving_version: str | None = Field(None, description="Version serving most traffic.")
    candidate_version: str | None = Field(None, description="Version being rolled out.")
    endpoint: str | None = Field(None, description="URL that serves predictions.")
    canary: CanaryState | None = Field(None, description="Progress of the current canary.")
    versions: list[VersionRecord] = Field(
        default_factory=list,
        description=(
            "Versions, oldest first: the newest 10, plus what serves or rolls out and the "
            "newest 3 archived (rollback targets). Every version stays in the registry."
        ),
    )
    training: TrainingRun | None = Field(None, description="The latest training run.")
    retrain_requests: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="Ids of the latest retrain requests taken, newest last (at most 10).",
    )
    audit_sequence: int = Field(
        0, ge=0, description="Audit events recorded for this model (next event's number)."
    )
    live_quality: LiveLabels | None = Field(
        None, description="The last live-quality measurement: summary and label counts."
    )
    batch: BatchStatus | None = Field(None, description="Scheduled batch scoring (spec.batch).")


class MLModel(KubeObject):
    """An MLModel object as the handlers see it."""

    spec: MLModelSpec
    status: MLModelStatus = Field(default_factory=MLModelStatus)

"""What the training pipeline receives for one MLModel: compile-time values from the spec and
run-time values from the operator (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pace.api.mlmodel import MLModel, MLModelSpec, TrainingRun
from pace.core import naming


def spec_parameters(spec: MLModelSpec) -> dict[str, Any]:
    """Pipeline parameters bound at compile time (the IR is specific to the training spec)."""
    training = spec.training
    return {
        "task": spec.task,
        "dataset_uri": spec.dataset.uri,
        "target": spec.dataset.target,
        "features": list(spec.dataset.features or []),
        "categorical": list(spec.dataset.categorical_features or []),
        "group_by": training.validation.group_by or "",
        "algorithm": training.algorithm,
        # JSON text: a KFP parameter cannot hold null, and sklearn values often are (max_depth).
        "hyperparameters": json.dumps(dict(training.hyperparameters), sort_keys=True),
        "search": json.dumps(
            training.search.model_dump(by_alias=True, mode="json", exclude_none=True),
            sort_keys=True,
        ),
        "test_size": training.validation.test_size,
        "cv_folds": training.validation.cv_folds,
        "seed": training.validation.seed,
        "quality_gates": spec.quality_gates.to_k8s(),
        "explain_method": spec.explainability.method,
        "explain_samples": spec.explainability.samples,
        "recent": spec.dataset.recent.to_k8s() if spec.dataset.recent else {},
        "model_uri": spec.model.uri if spec.model else "",
        "model_format": spec.model.format if spec.model else "",
    }


def imports_model(parameters: dict[str, Any]) -> bool:
    """Whether these parameters compile the import variant (spec.model) of the pipeline."""
    return bool(parameters.get("model_uri"))


@dataclass(frozen=True)
class RunRequest:
    """Run-time arguments of one training run."""

    namespace: str
    model_name: str
    model_uid: str
    version: str
    run_name: str
    trigger: str
    spec_hash: str
    pipeline_key: str
    serving_metrics: dict[str, float]
    reference_uri: str
    serving_model_uri: str = ""  # the serving version's model: scored on this run's test set
    recent_until: float = 0.0  # epoch seconds: the cut-off of spec.dataset.recent's window
    retry: int = 0  # resubmissions after a transient failure: each is a new backend run

    def arguments(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "model_name": self.model_name,
            "model_uid": self.model_uid,
            "version": self.version,
            "run_name": self.run_name,
            "trigger": self.trigger,
            "spec_hash": self.spec_hash,
            "pipeline_key": self.pipeline_key,
            "serving_metrics": dict(self.serving_metrics),
            "reference_uri": self.reference_uri,
            "serving_model_uri": self.serving_model_uri,
            "recent_until": self.recent_until,
        }


def run_request(model: MLModel, run: TrainingRun, *, bucket: str) -> RunRequest:
    """Run-time arguments for a run of this model: compared with the serving version."""
    serving = next(
        (v for v in model.status.versions if v.version == model.status.serving_version), None
    )
    reference_uri = serving_model_uri = ""
    if serving is not None:

        def uri(artifact: str) -> str:
            key = naming.artifact_key(
                namespace=model.namespace,
                model=model.name,
                version=serving.version,
                artifact=artifact,
                uid=model.uid,
            )
            return f"s3://{bucket}/{key}"

        reference_uri, serving_model_uri = uri("reference_meta"), uri("model")
    return RunRequest(
        namespace=model.namespace,
        model_name=model.name,
        model_uid=model.uid,
        version=run.version,
        run_name=run.run,
        trigger=run.trigger,
        spec_hash=run.spec_hash,
        pipeline_key=naming.pipeline_cache_key(run.spec_hash),
        serving_metrics=dict(serving.metrics) if serving else {},
        reference_uri=reference_uri,
        serving_model_uri=serving_model_uri,
        recent_until=(run.started_at or run.submitted_at or datetime.now(UTC)).timestamp(),
        retry=run.retries,
    )


@dataclass(frozen=True)
class BatchRequest:
    """Run-time arguments of one batch scoring run (``spec.batch``); backends treat it like a
    training run (idempotent by run name)."""

    namespace: str
    model_name: str
    model_uid: str
    run_name: str
    version: str
    model_uri: str
    input_uri: str
    output_uri: str
    task: str
    target: str
    features: tuple[str, ...] = ()
    retry: int = 0

    def arguments(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "model_name": self.model_name,
            "model_uid": self.model_uid,
            "run_name": self.run_name,
            "version": self.version,
            "model_uri": self.model_uri,
            "input_uri": self.input_uri,
            "output_uri": self.output_uri,
            "task": self.task,
            "target": self.target,
            "features": list(self.features),
        }


def batch_request(model: MLModel, *, run_name: str, version: str, bucket: str) -> BatchRequest:
    """The batch run of ``version`` (its registered model) over spec.batch's prefixes."""
    assert model.spec.batch is not None
    key = naming.artifact_key(
        namespace=model.namespace,
        model=model.name,
        version=version,
        artifact="model",
        uid=model.uid,
    )
    return BatchRequest(
        namespace=model.namespace,
        model_name=model.name,
        model_uid=model.uid,
        run_name=run_name,
        version=version,
        model_uri=f"s3://{bucket}/{key}",
        input_uri=model.spec.batch.input,
        output_uri=model.spec.batch.output,
        task=model.spec.task,
        target=model.spec.dataset.target,
        features=tuple(model.spec.dataset.features or ()),
    )


PipelineRequest = RunRequest | BatchRequest


@dataclass(frozen=True)
class StepSettings:
    """What each step gets on a real Kubeflow backend.

    ``credentials_secret`` is a Secret in the namespace the steps run in (Kubeflow's, or the
    profile namespace in multi-user mode) with the keys ``accessKey`` and ``secretKey`` (the
    chart's object-store Secret layout).
    """

    s3_endpoint: str
    s3_bucket: str
    s3_secure: bool
    credentials_secret: str

    def digest(self) -> str:
        """A short stable id of these settings (part of the compile cache key)."""
        import hashlib

        text = "|".join(
            (self.s3_endpoint, self.s3_bucket, str(self.s3_secure), self.credentials_secret)
        )
        return hashlib.sha256(text.encode()).hexdigest()[:8]

"""The training pipeline: load → validate → train → evaluate → explain → reference → register.

A model trained elsewhere (``spec.model``) compiles the same pipeline with ``import_model`` in
place of ``train_model`` (`build(imported=True)`): it is gated, explained, given a drift
reference and registered exactly like a trained one.

The operator compiles it once per training spec (parameters bound to the spec's values, see
`pace.core.pipeline_plan`) and runs it locally (kfp.local) or on Kubeflow Pipelines.

Every step reads and writes the object store. Locally the steps inherit the operator's
environment. On Kubeflow a step gets only what its Pod spec says, so `build` with
`StepSettings` gives each step the store's address as plain variables and its keys through
a Secret reference (kfp-kubernetes ``use_secret_as_env``: the compiled platform spec names
the Secret, never a value).
"""

from typing import Any

from kfp import dsl

from pace.core.pipeline_plan import StepSettings
from pace_components.evaluate_model import evaluate_model
from pace_components.explain_model import explain_model
from pace_components.fit_drift_reference import fit_drift_reference
from pace_components.import_model import import_model
from pace_components.load_data import load_data
from pace_components.register_model import register_model
from pace_components.train_model import train_model
from pace_components.validate_data import validate_data

PIPELINE_NAME = "pace-training"
IMPORT_PIPELINE_NAME = "pace-import"


SECRET_KEYS = {"accessKey": "AWS_ACCESS_KEY_ID", "secretKey": "AWS_SECRET_ACCESS_KEY"}


def _configure(task: Any, settings: StepSettings | None) -> Any:
    if settings is None:
        return task
    from kfp import kubernetes

    task.set_env_variable("PACE_S3_ENDPOINT", settings.s3_endpoint)
    task.set_env_variable("PACE_S3_BUCKET", settings.s3_bucket)
    task.set_env_variable("PACE_S3_SECURE", "true" if settings.s3_secure else "false")
    kubernetes.use_secret_as_env(
        task, secret_name=settings.credentials_secret, secret_key_to_env=SECRET_KEYS
    )
    return task


def build(settings: StepSettings | None = None, *, imported: bool = False) -> Any:
    """The pipeline, each step configured for where it runs (None: the local runner);
    ``imported``: the model comes from spec.model instead of being trained."""

    def step(task: Any) -> Any:
        return _configure(task, settings)

    @dsl.pipeline(
        name=IMPORT_PIPELINE_NAME if imported else PIPELINE_NAME,
        description=(
            "PACE: import (spec.model), evaluate, explain and register one version of an MLModel."
            if imported
            else "PACE: train, evaluate, explain and register one version of an MLModel."
        ),
    )
    def training_pipeline(
        namespace: str,
        model_name: str,
        model_uid: str,
        version: str,
        run_name: str,
        trigger: str,
        spec_hash: str,
        pipeline_key: str,
        task: str,
        dataset_uri: str,
        target: str,
        features: list,
        categorical: list,
        group_by: str,
        algorithm: str,
        hyperparameters: str,
        search: str,
        test_size: float,
        cv_folds: int,
        seed: int,
        quality_gates: dict,
        explain_method: str,
        explain_samples: int,
        serving_metrics: dict,
        reference_uri: str,
        serving_model_uri: str,
        recent: dict,
        recent_until: float,
        model_uri: str,
        model_format: str,
    ) -> str:
        """Train one version of a model and register it with its lineage."""
        loaded = step(
            load_data(
                dataset_uri=dataset_uri,
                target=target,
                features=features,
                group_by=group_by,
                recent=recent,
                namespace=namespace,
                model_name=model_name,
                recent_until=recent_until,
            )
        )
        validated = step(
            validate_data(
                dataset=loaded.outputs["dataset"],
                target=target,
                task=task,
                reference_uri=reference_uri,
            )
        )
        if imported:
            trained = step(
                import_model(
                    dataset=loaded.outputs["dataset"],
                    model_uri=model_uri,
                    model_format=model_format,
                    target=target,
                    task=task,
                    test_size=test_size,
                    seed=seed,
                    group_by=group_by,
                ).after(validated)
            )
        else:
            trained = step(
                train_model(
                    dataset=loaded.outputs["dataset"],
                    target=target,
                    task=task,
                    algorithm=algorithm,
                    hyperparameters=hyperparameters,
                    search=search,
                    test_size=test_size,
                    cv_folds=cv_folds,
                    seed=seed,
                    group_by=group_by,
                    categorical=categorical,
                ).after(validated)
            )
        evaluated = step(
            evaluate_model(
                model=trained.outputs["model"],
                test_set=trained.outputs["test_set"],
                target=target,
                task=task,
                quality_gates=quality_gates,
                serving_metrics=serving_metrics,
                serving_model_uri=serving_model_uri,
            )
        )
        explained = step(
            explain_model(
                model=trained.outputs["model"],
                train_set=trained.outputs["train_set"],
                test_set=trained.outputs["test_set"],
                target=target,
                method=explain_method,
                samples=explain_samples,
                seed=seed,
            )
        )
        reference = step(
            fit_drift_reference(
                train_set=trained.outputs["train_set"],
                target=target,
                categorical=categorical,
                seed=seed,
            )
        )
        registered = step(
            register_model(
                namespace=namespace,
                model_name=model_name,
                model_uid=model_uid,
                version=version,
                run_name=run_name,
                trigger=trigger,
                dataset_uri=dataset_uri,
                spec_hash=spec_hash,
                pipeline_key=pipeline_key,
                dataset=loaded.outputs["dataset"],
                recent_rows=loaded.outputs["recent_rows"],
                validation=validated.outputs["report"],
                model=trained.outputs["model"],
                search_report=trained.outputs["search_report"],
                metrics=evaluated.outputs["metrics"],
                verdict=evaluated.outputs["verdict"],
                explanation=explained.outputs["explanation"],
                plot=explained.outputs["plot"],
                reference=reference.outputs["reference"],
                reference_meta=reference.outputs["reference_meta"],
            )
        )
        return registered.output

    return training_pipeline


training_pipeline = build()

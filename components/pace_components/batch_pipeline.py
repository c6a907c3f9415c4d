"""The batch scoring pipeline (``spec.batch``): one step, ``score_batch``.

Compiled once per step settings (its parameters are all run-time: the operator passes the
version's model, the prefixes and the run name) and run on the same backends as training:
kfp.local in the operator's worker, or Kubeflow Pipelines with the store's address as
variables and its keys by Secret reference (`training_pipeline._configure`).
"""

from typing import Any

from kfp import dsl

from pace.core.pipeline_plan import StepSettings
from pace_components.score_batch import score_batch
from pace_components.training_pipeline import _configure

PIPELINE_NAME = "pace-batch"


def build(settings: StepSettings | None = None) -> Any:
    """The pipeline, its step configured for where it runs (None: the local runner)."""

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="PACE: score new files under an s3:// prefix with one model version.",
    )
    def batch_pipeline(
        namespace: str,
        model_name: str,
        model_uid: str,
        run_name: str,
        version: str,
        model_uri: str,
        input_uri: str,
        output_uri: str,
        task: str,
        target: str,
        features: list,
    ) -> str:
        """Score the new files of one schedule time."""
        scored = _configure(
            score_batch(
                namespace=namespace,
                model_name=model_name,
                model_uid=model_uid,
                run_name=run_name,
                version=version,
                model_uri=model_uri,
                input_uri=input_uri,
                output_uri=output_uri,
                task=task,
                target=target,
                features=features,
            ),
            settings,
        )
        return scored.output

    return batch_pipeline

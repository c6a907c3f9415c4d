"""Pipeline step: score the new files under spec.batch.input with one registered version."""

from kfp import dsl

from pace_components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def score_batch(
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
    """Score each input file not scored yet; write its predictions and log its rows.

    Args:
        namespace: Namespace of the MLModel.
        model_name: Name of the MLModel.
        model_uid: uid of the MLModel object.
        run_name: This run's name (recorded in every predictions row).
        version: The version that scores (recorded in every row).
        model_uri: s3:// URI of that version's registered model.joblib.
        input_uri: spec.batch.input (s3://bucket/prefix/).
        output_uri: spec.batch.output (s3://bucket/prefix/).
        task: classification or regression.
        target: spec.dataset.target (kept if present in a file, never used).
        features: spec.dataset.features, or [] for what the model was fitted on.

    Returns:
        The s3:// URI of the run's report (JSON).
    """
    from pace import batch_scoring
    from pace.adapters import object_store
    from pace.core import batch, pipeline_plan

    settings = object_store.S3Settings.from_env()
    job = pipeline_plan.BatchRequest(
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
        features=tuple(features),
    )
    batch_scoring.score(job, settings)
    key = batch.report_key(namespace, model_name, model_uid, run_name)
    return f"s3://{settings.bucket}/{key}"

"""Pipeline step: metrics on the held-out split and the quality-gate verdict."""

from kfp import dsl

from pace_components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def evaluate_model(
    model: dsl.Input[dsl.Model],
    test_set: dsl.Input[dsl.Dataset],
    target: str,
    task: str,
    quality_gates: dict,
    serving_metrics: dict,
    serving_model_uri: str,
    metrics: dsl.Output[dsl.Metrics],
    verdict: dsl.Output[dsl.Artifact],
) -> None:
    """Compute metrics and apply the gates (a failed gate is recorded, not raised).

    Args:
        model: joblib model from train_model.
        test_set: Parquet test split from train_model.
        target: Column to predict.
        task: classification or regression.
        quality_gates: spec.qualityGates (camelCase, as stored).
        serving_metrics: Metrics of the serving version, {} when nothing serves.
        serving_model_uri: s3:// URI of the serving version's model, "" when nothing serves.
            It is scored on this run's test set, so minDelta compares both versions on the
            same rows (a retrain on fresh data has a different test set than the serving
            version had); its recorded metrics are the fallback when it cannot score them.
        metrics: Output metrics (one value per name).
        verdict: Output JSON {passed, failures, checks}.
    """
    import io
    import json

    import joblib
    import pandas as pd

    from pace.adapters import object_store
    from pace.api.mlmodel import QualityGates
    from pace.core import evaluation
    from pace.core import quality_gates as gates_lib

    gates = QualityGates.model_validate(dict(quality_gates))
    fitted = joblib.load(model.path)
    test = pd.read_parquet(test_set.path)
    sensitive = gates.fairness.sensitive_feature if gates.fairness else None
    values = evaluation.compute_metrics(
        fitted, test, target=target, task=task, sensitive_feature=sensitive
    )
    for name, value in values.items():
        metrics.log_metric(name, value)
    serving, basis = dict(serving_metrics) or None, gates_lib.RECORDED
    if serving_model_uri:
        try:
            settings = object_store.S3Settings.from_env()
            champion = joblib.load(io.BytesIO(object_store.read_uri(serving_model_uri, settings)))
            serving = evaluation.compute_metrics(
                champion, test, target=target, task=task, sensitive_feature=sensitive
            )
            basis = gates_lib.SAME_TEST_SET
        except Exception as exc:  # e.g. the serving version takes other features
            print(f"the serving version could not score this run's test set: {exc}")
    result = gates_lib.evaluate_gates(
        values, gates, task=task, serving_metrics=serving, serving_basis=basis
    )
    with open(verdict.path, "w") as out:
        json.dump(result.to_dict(), out, indent=2, sort_keys=True)
    verdict.metadata["passed"] = result.passed
    print(f"metrics {values}; gates {'passed' if result.passed else 'FAILED'} {result.failures}")

"""Pipeline step: schema, types, missing values, ranges, and statistics against the reference."""

from kfp import dsl

from pace_components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def validate_data(
    dataset: dsl.Input[dsl.Dataset],
    target: str,
    task: str,
    reference_uri: str,
    report: dsl.Output[dsl.Artifact],
) -> None:
    """Validate the dataset; fail the run with a readable report on any error.

    Args:
        dataset: Parquet dataset from load_data.
        target: Column to predict.
        task: classification or regression.
        reference_uri: s3:// URI of the serving version's reference.json, or "" for none.
        report: Output JSON report (errors, warnings, per-column statistics).
    """
    import json

    import pandas as pd

    from pace.adapters import object_store
    from pace.core import data_validation

    frame = pd.read_parquet(dataset.path)
    reference = None
    if reference_uri:
        settings = object_store.S3Settings.from_env()
        reference = json.loads(object_store.read_uri(reference_uri, settings))["statistics"]
    result = data_validation.validate_frame(frame, target=target, task=task, reference=reference)
    with open(report.path, "w") as out:
        json.dump(result.to_dict(), out, indent=2, sort_keys=True)
    report.metadata["passed"] = result.passed
    print(result.text())
    if not result.passed:
        raise ValueError(result.text())

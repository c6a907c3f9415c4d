"""Pipeline step: the snapshot and statistics a DriftMonitor compares live data with."""

from kfp import dsl

from pace_components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def fit_drift_reference(
    train_set: dsl.Input[dsl.Dataset],
    target: str,
    categorical: list,
    seed: int,
    reference: dsl.Output[dsl.Dataset],
    reference_meta: dsl.Output[dsl.Artifact],
) -> None:
    """Write the reference snapshot (Parquet) and its metadata (JSON).

    Args:
        train_set: Parquet train split from train_model.
        target: Column to predict (excluded from the reference).
        categorical: Categorical feature names (tested with chi-square).
        seed: Random seed for subsampling.
        reference: Output Parquet snapshot of the input features.
        reference_meta: Output JSON {features, categorical, rows, statistics}.
    """
    import json

    import pandas as pd

    from pace.core import drift_reference

    snapshot, meta = drift_reference.fit_reference(
        pd.read_parquet(train_set.path), target=target, categorical=list(categorical), seed=seed
    )
    snapshot.to_parquet(reference.path, index=False)
    with open(reference_meta.path, "w") as out:
        json.dump(meta, out, indent=2, sort_keys=True)
    reference.metadata["rows"] = len(snapshot)

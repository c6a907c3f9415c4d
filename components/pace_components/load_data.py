"""Pipeline step: read the dataset (s3:// CSV or Parquet, or a bundled sklearn://<name>)."""

from kfp import dsl

from pace_components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def load_data(
    dataset_uri: str, target: str, features: list, group_by: str, dataset: dsl.Output[dsl.Dataset]
) -> None:
    """Load the training data into a Parquet dataset artifact.

    Args:
        dataset_uri: s3://bucket/key.csv|.parquet or sklearn://wine|breast_cancer|diabetes|iris.
        target: Column to predict.
        features: Input columns; every column but the target when empty.
        group_by: Column kept besides the features for a grouped split, or "".
        dataset: Output Parquet file; metadata carries rows, columns and data_hash.
    """
    from pace.adapters import object_store
    from pace.core import datasets

    parsed = datasets.parse_uri(dataset_uri)
    if parsed.scheme == "sklearn":
        frame = datasets.load_builtin(parsed.key)
    else:
        settings = object_store.S3Settings.from_env()
        frame = datasets.read_bytes(object_store.read_uri(dataset_uri, settings), parsed.format)
    frame = datasets.select_columns(
        frame,
        target=target,
        features=list(features) or None,
        extra=[group_by] if group_by else None,
    )
    frame.to_parquet(dataset.path, index=False)
    dataset.metadata["rows"] = len(frame)
    dataset.metadata["columns"] = list(frame.columns)
    dataset.metadata["data_hash"] = datasets.data_hash(frame)
    print(f"loaded {len(frame)} rows x {frame.shape[1]} columns from {dataset_uri}")

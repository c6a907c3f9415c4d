"""Pipeline step: read the dataset (s3:// CSV or Parquet, or a bundled sklearn://<name>), and
the fresh labelled rows `spec.dataset.recent` asks for."""

from kfp import dsl

from pace_components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def load_data(
    dataset_uri: str,
    target: str,
    features: list,
    group_by: str,
    recent: dict,
    namespace: str,
    model_name: str,
    recent_until: float,
    dataset: dsl.Output[dsl.Dataset],
    recent_rows: dsl.Output[dsl.Dataset],
) -> None:
    """Load the training data into a Parquet dataset artifact.

    Args:
        dataset_uri: s3://bucket/key.csv|.parquet or sklearn://wine|breast_cancer|diabetes|iris.
        target: Column to predict.
        features: Input columns; every column but the target when empty.
        group_by: Column kept besides the features for a grouped split, or "".
        recent: spec.dataset.recent (source, window, mode, minRows), or {} for none.
        namespace: Namespace of the MLModel (its inference log, for source inference-log).
        model_name: Name of the MLModel.
        recent_until: Cut-off (epoch seconds) of the recent window: when the run was asked
            for, so a resubmitted run reads the same window.
        dataset: Output Parquet file; metadata carries rows, columns, data_hash and the base
            and recent parts.
        recent_rows: Output Parquet file of the recent rows trained on (the version's
            snapshot of them; empty when none).
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
    base_hash = datasets.data_hash(frame)
    if recent:
        from pace.adapters import recent_source

        combined = recent_source.combine(
            frame,
            recent,
            settings=object_store.S3Settings.from_env(),
            namespace=namespace,
            model=model_name,
            target=target,
            group_by=group_by,
            until=recent_until,
        )
        fresh = combined.recent
        fresh.to_parquet(recent_rows.path, index=False)
        frame = combined.frame
        dataset.metadata["base_rows"] = combined.base_rows
        dataset.metadata["recent_rows"] = combined.recent_rows
        dataset.metadata["recent_found"] = combined.found_rows
        dataset.metadata["recent_dropped"] = combined.dropped
        dataset.metadata["recent_hash"] = datasets.data_hash(fresh)
        dataset.metadata["data_note"] = combined.note
        dataset.metadata["recent_source"] = recent.get("source", "inference-log")
        dataset.metadata["recent_window"] = dict(recent.get("window") or {"duration": "24h"})
        dataset.metadata["recent_mode"] = recent.get("mode", "append")
        dataset.metadata["recent_until"] = recent_until
        print(combined.note)
    else:
        frame.iloc[0:0].to_parquet(recent_rows.path, index=False)
    frame.to_parquet(dataset.path, index=False)
    dataset.metadata["rows"] = len(frame)
    dataset.metadata["columns"] = list(frame.columns)
    dataset.metadata["base_hash"] = base_hash
    dataset.metadata["data_hash"] = datasets.data_hash(frame)
    print(f"loaded {len(frame)} rows x {frame.shape[1]} columns from {dataset_uri}")

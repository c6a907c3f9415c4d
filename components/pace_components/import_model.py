"""Pipeline step: take a model trained elsewhere (spec.model) in place of train_model."""

from kfp import dsl

from pace_components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def import_model(
    dataset: dsl.Input[dsl.Dataset],
    model_uri: str,
    model_format: str,
    target: str,
    task: str,
    test_size: float,
    seed: int,
    group_by: str,
    model: dsl.Output[dsl.Model],
    train_set: dsl.Output[dsl.Dataset],
    test_set: dsl.Output[dsl.Dataset],
    search_report: dsl.Output[dsl.Artifact],
) -> None:
    """Fetch the model, check that it serves the dataset's features, split like train_model.

    Loading a pickle runs code: this step is where that happens (never in the operator).

    Args:
        dataset: Parquet dataset from load_data.
        model_uri: spec.model.uri: s3://bucket/key.joblib|.pkl|.pickle or a folder/ holding
            model.joblib.
        model_format: spec.model.format (sklearn).
        target: Column to predict.
        task: classification or regression.
        test_size: Held-out fraction (the quality gates are judged on it).
        seed: Random seed of the split.
        group_by: Column whose groups never straddle the split, or "".
        model: Output: the imported file, byte for byte (its sha256 is in the lineage).
        train_set: Output Parquet train split (the drift reference and explainer read it).
        test_set: Output Parquet test split.
        search_report: Output JSON: chosen = the import's source (uri, sha256, class).
    """
    import hashlib
    import io
    import json
    import warnings

    import joblib
    import pandas as pd

    from pace.adapters import object_store
    from pace.core import evaluation, imported_model, seldon_manifest

    if model_format != "sklearn":
        raise imported_model.ModelImportError(
            f"spec.model.format {model_format!r}: only sklearn is supported"
        )
    bucket, key = imported_model.model_location(model_uri)
    settings = object_store.S3Settings.from_env()
    data = object_store.read_uri(f"s3://{bucket}/{key}", settings)
    digest = hashlib.sha256(data).hexdigest()
    try:
        fitted = joblib.load(io.BytesIO(data))
    except Exception as exc:  # a truncated file, another format, a module not installed here
        name = key.rpartition("/")[2]
        why = f"{name} does not load with joblib: {type(exc).__name__}: {exc}"
        raise imported_model.refusal(model_uri, [why]) from exc
    frame = pd.read_parquet(dataset.path)
    train, test = evaluation.split_for_training(
        frame, target=target, task=task, test_size=test_size, seed=seed, group_by=group_by
    )
    features = [c for c in test.columns if c != target]
    problems = imported_model.fit_problems(fitted, features=features, task=task)
    if not problems:
        rows = test[features].head(5).to_numpy()  # as the serving runtime calls it
        try:
            with warnings.catch_warnings():  # fitted on a frame, called with an array: fine
                warnings.simplefilter("ignore", UserWarning)
                getattr(fitted, seldon_manifest.served_method(task))(rows)
        except Exception as exc:
            problems.append(
                f"{seldon_manifest.served_method(task)}() on the dataset's rows failed: "
                f"{type(exc).__name__}: {exc}"
            )
    if problems:
        raise imported_model.refusal(model_uri, problems)
    with open(model.path, "wb") as out:
        out.write(data)
    train.to_parquet(train_set.path, index=False)
    test.to_parquet(test_set.path, index=False)
    source = {
        "kind": "imported",
        "uri": model_uri,
        "file": f"s3://{bucket}/{key}",
        "sha256": digest,
        "format": model_format,
        "class": imported_model.class_path(fitted),
    }
    with open(search_report.path, "w") as out:
        json.dump(
            {
                "chosen": {
                    "algorithm": "imported",
                    "params": {},
                    "cvScore": None,
                    "scoring": None,
                    "source": source,
                },
                "candidates": [],
            },
            out,
            indent=2,
            sort_keys=True,
        )
    model.metadata |= {"algorithm": "imported", "sha256": digest, "framework": "scikit-learn"}
    print(f"imported {source['class']} from {source['file']} (sha256 {digest[:12]})")

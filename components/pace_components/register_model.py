"""Pipeline step: write the version (model, metrics, explanation, reference, lineage) to S3."""

from kfp import dsl

from pace_components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def register_model(
    namespace: str,
    model_name: str,
    model_uid: str,
    version: str,
    run_name: str,
    trigger: str,
    dataset_uri: str,
    spec_hash: str,
    pipeline_key: str,
    dataset: dsl.Input[dsl.Dataset],
    recent_rows: dsl.Input[dsl.Dataset],
    validation: dsl.Input[dsl.Artifact],
    model: dsl.Input[dsl.Model],
    search_report: dsl.Input[dsl.Artifact],
    metrics: dsl.Input[dsl.Metrics],
    verdict: dsl.Input[dsl.Artifact],
    explanation: dsl.Input[dsl.Artifact],
    plot: dsl.Input[dsl.Artifact],
    reference: dsl.Input[dsl.Dataset],
    reference_meta: dsl.Input[dsl.Artifact],
) -> str:
    """Register the version under write-once keys; return the lineage record's s3:// URI.

    Args:
        namespace: Namespace of the MLModel.
        model_name: Name of the MLModel.
        model_uid: uid of the MLModel object (its versions live under it).
        version: Version id allocated by the operator (v1, v2, ...).
        run_name: Pipeline run name (deterministic, from the operator).
        trigger: Why this run happened (create, spec-change, drift, schedule, ...).
        dataset_uri: The dataset URI trained on.
        spec_hash: Hash of the training-relevant spec.
        pipeline_key: Object key of the compiled pipeline IR, copied next to the version.
        dataset: The loaded dataset (its metadata carries the data hash and its parts).
        recent_rows: The recent labelled rows trained on (kept with the version).
        validation: Data validation report.
        model: The fitted model.
        search_report: Candidates and their cross-validation scores (from import_model: the
            imported file's source, which the lineage records).
        metrics: Evaluation metrics.
        verdict: Quality-gate verdict.
        explanation: Importances JSON.
        plot: Importances PNG.
        reference: Drift reference snapshot.
        reference_meta: Drift reference metadata.

    Returns:
        The s3:// URI of lineage.json.
    """
    import json
    import tempfile
    from datetime import UTC, datetime
    from pathlib import Path

    from pace import registry
    from pace.adapters import object_store
    from pace.core import naming

    store = object_store.ObjectStore(object_store.S3Settings.from_env())
    values = {
        k: float(v)
        for k, v in metrics.metadata.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    metrics_file = Path(tempfile.mkdtemp()) / "metrics.json"
    metrics_file.write_text(json.dumps(values, indent=2, sort_keys=True))
    with open(verdict.path) as f:
        gates = json.load(f)
    with open(search_report.path) as f:
        chosen = json.load(f)["chosen"]
    record = registry.register_version(
        store,
        namespace=namespace,
        model=model_name,
        model_uid=model_uid,
        version=version,
        run=run_name,
        trigger=trigger,
        dataset_uri=dataset_uri,
        data_hash=dataset.metadata["data_hash"],
        data_parts=registry.data_parts(dict(dataset.metadata)),
        spec_hash=spec_hash,
        algorithm=chosen["algorithm"],
        params=chosen["params"],
        source=chosen.get("source"),
        metrics=values,
        gates=gates,
        files={
            "model": Path(model.path),
            "recent": Path(recent_rows.path),
            "metrics": metrics_file,
            "verdict": Path(verdict.path),
            "explanation": Path(explanation.path),
            "explanation_png": Path(plot.path),
            "reference": Path(reference.path),
            "reference_meta": Path(reference_meta.path),
            "validation": Path(validation.path),
            "search": Path(search_report.path),
        },
        pipeline_key=pipeline_key or None,
        now=datetime.now(UTC),
    )
    uri = store.uri(
        naming.artifact_key(
            namespace=namespace,
            model=model_name,
            version=version,
            artifact="lineage",
            uid=model_uid,
        )
    )
    print(f"registered {namespace}/{model_name} {version}: {record['metrics']} -> {uri}")
    return uri

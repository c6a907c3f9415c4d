"""Registering a version in the object store: artifacts first, the lineage record last.

A version is committed when its lineage.json exists; that key is written once and never
overwritten. A step retried after a crash rewrites only uncommitted artifacts, and a step
run again for a committed version changes nothing. Called by the register_model step; a
plain function so it is tested on its own against a real MinIO.
"""

from __future__ import annotations

import platform
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pace.adapters.object_store import ObjectStore
from pace.core import lineage, naming

CONTENT_TYPES = {
    ".json": "application/json",
    ".png": "image/png",
    ".yaml": "application/yaml",
    ".parquet": "application/vnd.apache.parquet",
}
PACKAGES = ("scikit-learn", "pandas", "numpy", "kfp", "pace", "alibi", "alibi-detect", "joblib")


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a model, plus Python's."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def data_parts(metadata: dict[str, Any]) -> dict[str, Any]:
    """The base and recent parts of the training data, from the load_data step's metadata
    (nothing when the spec asks for no recent data)."""
    if "recent_rows" not in metadata:
        return {}

    def count(key: str) -> int:  # artifact metadata passes numbers as floats
        return int(metadata.get(key) or 0)

    window = {
        k: int(v) if isinstance(v, float) and v.is_integer() else v
        for k, v in dict(metadata.get("recent_window") or {}).items()
    }
    return {
        "base": {"rows": count("base_rows"), "hash": metadata.get("base_hash")},
        "recent": {
            "source": metadata.get("recent_source"),
            "window": window,
            "mode": metadata.get("recent_mode"),
            "until": metadata.get("recent_until"),
            "rows": count("recent_rows"),
            "found": count("recent_found"),
            "dropped": count("recent_dropped"),
            "hash": metadata.get("recent_hash"),
        },
        "note": metadata.get("data_note"),
    }


def register_version(
    store: ObjectStore,
    *,
    namespace: str,
    model: str,
    version: str,
    run: str,
    model_uid: str = "",
    trigger: str,
    dataset_uri: str,
    data_hash: str,
    data_parts: dict[str, Any] | None = None,
    spec_hash: str,
    algorithm: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    gates: dict[str, Any],
    files: dict[str, Path],
    pipeline_key: str | None,
    now: datetime,
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Upload a version's artifacts and commit it with its lineage; return the lineage."""
    store.ensure_bucket()
    lineage_key = naming.artifact_key(
        namespace=namespace, model=model, version=version, artifact="lineage", uid=model_uid
    )
    if store.exists(lineage_key):
        existing: dict[str, Any] = store.get_json(lineage_key)
        if existing.get("pipelineRun") != run:
            raise RuntimeError(
                f"{store.uri(lineage_key)} belongs to run "
                f"{existing.get('pipelineRun')!r}, not {run!r}"
            )
        return existing
    artifacts: dict[str, str] = {}
    for artifact, path in sorted(files.items()):
        key = naming.artifact_key(
            namespace=namespace, model=model, version=version, artifact=artifact, uid=model_uid
        )
        artifacts[artifact] = store.put(
            key,
            Path(path).read_bytes(),
            content_type=CONTENT_TYPES.get(Path(key).suffix, "application/octet-stream"),
        )
    if pipeline_key and store.exists(pipeline_key):
        key = naming.artifact_key(
            namespace=namespace, model=model, version=version, artifact="pipeline", uid=model_uid
        )
        artifacts["pipeline"] = store.put(
            key, store.get(pipeline_key), content_type="application/yaml"
        )
    record = lineage.lineage_record(
        namespace=namespace,
        model=model,
        version=version,
        run=run,
        trigger=trigger,
        dataset_uri=dataset_uri,
        data_hash=data_hash,
        data_parts=data_parts,
        spec_hash=spec_hash,
        algorithm=algorithm,
        params=params,
        source=source,
        metrics=metrics,
        gates=gates,
        artifacts=artifacts,
        packages=package_versions(),
        created_at=now,
    )
    store.put_json(lineage_key, record, once=True)
    return record


def list_versions(store: ObjectStore, namespace: str, model: str) -> list[dict[str, Any]]:
    """Every registered version of every object named ``model`` in ``namespace`` (each
    incarnation under its uid), as its lineage record, oldest first: what `pace versions`
    prints (the status keeps only the newest few)."""
    prefix = naming.model_prefix(namespace=namespace, model=model)
    keys = [k for k in store.list(prefix) if k.endswith("/" + naming.ARTIFACTS["lineage"])]
    records = []
    for key in keys:
        record: dict[str, Any] = store.get_json(key)
        record["uri"] = store.uri(key)
        records.append(record)
    return sorted(records, key=lambda r: (r.get("createdAt", ""), r.get("version", "")))

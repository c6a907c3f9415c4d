"""Deterministic names: versions, pipeline runs and object-store keys (pure).

Names derive from status and spec only, so a restarted operator computes the same run name
and never starts a second run for the same request.
"""

from __future__ import annotations

import re

VERSION_RE = re.compile(r"^v([0-9]+)$")
ARTIFACTS = {
    "model": "model.joblib",
    "metrics": "metrics.json",
    "verdict": "verdict.json",
    "explanation": "explanation.json",
    "explanation_png": "explanation.png",
    "reference": "reference.parquet",
    "reference_meta": "reference.json",
    "validation": "validation.json",
    "search": "search.json",
    "recent": "recent.parquet",
    "pipeline": "pipeline.yaml",
    "lineage": "lineage.json",
}


def version_name(number: int) -> str:
    return f"v{number}"


def version_number(version: str) -> int:
    match = VERSION_RE.match(version)
    if not match:
        raise ValueError(f"not a version name: {version!r}")
    return int(match.group(1))


def next_version(existing: list[str]) -> str:
    """One more than the highest existing version (v1 when none)."""
    return version_name(max((version_number(v) for v in existing), default=0) + 1)


def run_name(*, model: str, version: str, spec_hash: str, uid: str = "") -> str:
    """Pipeline run name: unique per model object (its uid: a model deleted and created again
    under the same name never meets its predecessor's runs), version and training spec;
    DNS-safe. The namespace is the run's place (local folder, KFP display name)."""
    owner = f"-{uid[:6]}" if uid else ""
    return f"{model}-{version}{owner}-{spec_hash[:8]}"[:63].rstrip("-")


def namespace_models_prefix(namespace: str) -> str:
    """Object-store prefix of every model of one namespace (what its serving key may read)."""
    return f"models/{namespace}/"


def model_prefix(*, namespace: str, model: str, uid: str = "") -> str:
    """Object-store prefix of one model object: its namespace, name and uid, so a model
    created again under the same name starts at v1 afresh and never adopts old artifacts."""
    return namespace_models_prefix(namespace) + f"{model}/" + (f"{uid[:8]}/" if uid else "")


def version_prefix(*, namespace: str, model: str, version: str, uid: str = "") -> str:
    """Object-store prefix of one version."""
    return model_prefix(namespace=namespace, model=model, uid=uid) + f"versions/{version}/"


def artifact_key(*, namespace: str, model: str, version: str, artifact: str, uid: str = "") -> str:
    """Object-store key of one artifact of a version."""
    prefix = version_prefix(namespace=namespace, model=model, version=version, uid=uid)
    return prefix + ARTIFACTS[artifact]


def pipeline_cache_key(spec_hash: str) -> str:
    """Object-store key of a compiled pipeline, shared by every run of the same spec."""
    return f"pipelines/{spec_hash}/pipeline.yaml"

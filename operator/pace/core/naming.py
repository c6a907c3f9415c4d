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


def run_name(*, model: str, version: str, spec_hash: str) -> str:
    """Pipeline run name: unique per model, version and training spec; DNS-safe."""
    return f"{model}-{version}-{spec_hash[:8]}"[:63].rstrip("-")


def version_prefix(*, namespace: str, model: str, version: str) -> str:
    """Object-store prefix of one version."""
    return f"models/{namespace}/{model}/versions/{version}/"


def artifact_key(*, namespace: str, model: str, version: str, artifact: str) -> str:
    """Object-store key of one artifact of a version."""
    return version_prefix(namespace=namespace, model=model, version=version) + ARTIFACTS[artifact]


def pipeline_cache_key(spec_hash: str) -> str:
    """Object-store key of a compiled pipeline, shared by every run of the same spec."""
    return f"pipelines/{spec_hash}/pipeline.yaml"

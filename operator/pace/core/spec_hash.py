"""Stable hash of the MLModel spec fields that require a new training run (pure).

Serving and canary settings are left out: changing them must not retrain.
"""

from __future__ import annotations

import hashlib
import json

from pace.api.mlmodel import MLModelSpec

TRAINING_FIELDS = ("task", "dataset", "training", "model", "quality_gates", "explainability")
LATER_DATASET_FIELDS = ("recent",)
LATER_FIELDS = ("model",)


def training_spec(spec: MLModelSpec) -> dict[str, object]:
    """The training-relevant part of the spec, in camelCase as stored. Fields added later are
    left out while unset, so an upgraded operator computes the same hash for an unchanged
    spec (and retrains nothing)."""
    dumped = spec.model_dump(by_alias=True, mode="json", include=set(TRAINING_FIELDS))
    for later in LATER_DATASET_FIELDS:
        if dumped["dataset"].get(later) is None:
            dumped["dataset"].pop(later, None)
    for later in LATER_FIELDS:
        if dumped.get(later) is None:
            dumped.pop(later, None)
    return dumped


def spec_hash(spec: MLModelSpec) -> str:
    """sha256 over canonical JSON of the training-relevant fields (first 16 hex digits)."""
    text = json.dumps(training_spec(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]

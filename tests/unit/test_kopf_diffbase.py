"""kopf's diff-base built without copying status and managedFields gives the same essence."""

from __future__ import annotations

import copy
from typing import Any

import kopf

from pace.adapters import kopf_diffbase


def _body() -> dict[str, Any]:
    return {
        "apiVersion": "mlops.pace.dev/v1alpha1",
        "kind": "MLModel",
        "metadata": {
            "name": "iris",
            "namespace": "ns",
            "uid": "u1",
            "resourceVersion": "9",
            "labels": {"team": "a"},
            "annotations": {
                "mlops.pace.dev/retrain": "{}",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "mlops.pace.dev/last-handled-configuration": '{"spec": {}}',
            },
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "ownerReferences": [{"kind": "Thing", "name": "x"}],
        },
        "spec": {"task": "classification", "dataset": {"uri": "sklearn://iris"}},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }


def test_the_lean_essence_is_kopfs_essence_and_leaves_the_body_alone() -> None:
    args: dict[str, Any] = {"prefix": "mlops.pace.dev", "key": "last-handled-configuration"}
    raw = _body()
    kept = copy.deepcopy(raw)
    lean = kopf_diffbase.LeanDiffBaseStorage(**args).build(body=kopf.Body(raw))
    full = kopf.AnnotationsDiffBaseStorage(**args).build(body=kopf.Body(kept))
    assert lean == full
    assert lean["spec"] == raw["spec"]
    assert lean["metadata"]["labels"] == {"team": "a"}
    assert "status" not in lean
    lean["spec"]["task"] = "changed"  # the essence is a copy, as kopf's is
    assert raw == kept

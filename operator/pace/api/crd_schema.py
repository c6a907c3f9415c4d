"""Render PACE's CustomResourceDefinitions from the pydantic models (pure).

The models in `pace.api` are the single source of truth: `make crds` writes the output of
`render_all()` to ``crds/``, and a unit test fails when the committed YAML is stale.
Pydantic's JSON schema is turned into a Kubernetes structural schema: references are
inlined, ``Optional`` unions collapse to their non-null branch, titles go, and the
``x-kubernetes-*`` extensions (CEL rules, list types) written next to the fields stay.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import yaml

from pace.api import constants, drift_monitor, mlmodel, retrain_policy
from pace.api.common import CamelModel

_DROP = {"title", "$defs"}


@dataclass(frozen=True)
class CrdInfo:
    """Names and printer columns of one resource."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    spec: type[CamelModel]
    status: type[CamelModel]
    description: str
    columns: tuple[dict[str, Any], ...]


def _condition_column(name: str, condition: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{condition}")].status',
    }


_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

RESOURCES: tuple[CrdInfo, ...] = (
    CrdInfo(
        kind=constants.MLMODEL_KIND,
        plural=constants.MLMODEL_PLURAL,
        short_names=("mlm",),
        spec=mlmodel.MLModelSpec,
        status=mlmodel.MLModelStatus,
        description="MLModel: what to train and how to serve it. PACE trains it with a "
        "pipeline, keeps every version, and rolls new versions out by canary.",
        columns=(
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Step", "type": "string", "jsonPath": ".status.training.step", "priority": 1},
            {"name": "Serving", "type": "string", "jsonPath": ".status.servingVersion"},
            {
                "name": "Candidate",
                "type": "string",
                "jsonPath": ".status.candidateVersion",
                "priority": 1,
            },
            {
                "name": "Canary",
                "type": "integer",
                "jsonPath": ".status.canary.weight",
                "description": "Traffic percent on the canary",
            },
            _condition_column("Drift", "DriftDetected"),
            {
                "name": "Live",
                "type": "string",
                "jsonPath": ".status.liveQuality.summary",
                "description": "The serving version's quality on labelled live traffic",
            },
            _AGE,
        ),
    ),
    CrdInfo(
        kind=constants.RETRAIN_POLICY_KIND,
        plural=constants.RETRAIN_POLICY_PLURAL,
        short_names=("rtp",),
        spec=retrain_policy.RetrainPolicySpec,
        status=retrain_policy.RetrainPolicyStatus,
        description="RetrainPolicy: when to retrain an MLModel (schedule, drift, metric or "
        "new data), with cooldown and concurrency limits.",
        columns=(
            {"name": "Model", "type": "string", "jsonPath": ".spec.modelRef.name"},
            _condition_column("Ready", "Ready"),
            {"name": "Last-Trigger", "type": "string", "jsonPath": ".status.lastTrigger.reason"},
            {"name": "Run", "type": "string", "jsonPath": ".status.lastTrigger.run"},
            {"name": "Fired", "type": "integer", "jsonPath": ".status.triggerCount"},
            {"name": "Fired-At", "type": "date", "jsonPath": ".status.lastTrigger.time"},
            {
                "name": "Holding",
                "type": "string",
                "jsonPath": ".status.holding",
                "priority": 1,
                "description": "Why the policy does not fire now",
            },
            _AGE,
        ),
    ),
    CrdInfo(
        kind=constants.DRIFT_MONITOR_KIND,
        plural=constants.DRIFT_MONITOR_PLURAL,
        short_names=("dm",),
        spec=drift_monitor.DriftMonitorSpec,
        status=drift_monitor.DriftMonitorStatus,
        description="DriftMonitor: compares a model's live inputs with its training "
        "reference using an alibi-detect detector, on an interval.",
        columns=(
            {"name": "Model", "type": "string", "jsonPath": ".spec.modelRef.name"},
            {"name": "Detector", "type": "string", "jsonPath": ".spec.detector.type"},
            _condition_column("Ready", "Ready"),
            {"name": "Drift", "type": "boolean", "jsonPath": ".status.driftDetected"},
            {"name": "Share", "type": "number", "jsonPath": ".status.shareDrifted"},
            {"name": "Rows", "type": "integer", "jsonPath": ".status.windowRows"},
            {"name": "Last-Check", "type": "date", "jsonPath": ".status.lastCheck"},
            _AGE,
        ),
    ),
)


def structural(node: Any, defs: dict[str, Any]) -> Any:
    """Turn one pydantic JSON-schema node into a structural OpenAPI v3 node."""
    if isinstance(node, list):
        return [structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").rsplit("/", 1)[-1]])
        extra_rules = node.pop("x-kubernetes-validations", [])
        target.update(node)
        if extra_rules:
            target["x-kubernetes-validations"] = (
                target.get("x-kubernetes-validations", []) + extra_rules
            )
        node = target
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"cannot express union {branches} structurally")
        branch = structural(branches[0], defs)
        if node.get("default", "x") is None:
            node.pop("default")
        node = {**branch, **node}
    if "const" in node:  # a one-value Literal: OpenAPI v3.0 (and the API server) know enum
        node["enum"] = [node.pop("const")]
    if node.get("additionalProperties") is True:
        node.pop("additionalProperties")
    if node.get("x-kubernetes-preserve-unknown-fields") and node.get("additionalProperties"):
        node.pop("additionalProperties")
    for bound in ("Minimum", "Maximum"):  # JSON Schema 2020-12 → OpenAPI v3.0 form
        if not isinstance(node.get(f"exclusive{bound}", True), bool):
            node[bound.lower()] = node.pop(f"exclusive{bound}")
            node[f"exclusive{bound}"] = True
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key in ("properties",):
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = structural(value, defs)
        else:
            out[key] = copy.deepcopy(value)
    if "properties" in out and "type" not in out:
        out["type"] = "object"
    return out


def model_schema(model: type[CamelModel]) -> dict[str, Any]:
    """Structural schema of one model, with its description."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    result: dict[str, Any] = structural(raw, defs)
    return result


def render(info: CrdInfo) -> dict[str, Any]:
    """The CustomResourceDefinition of one resource as a dict."""
    spec = model_schema(info.spec)
    status = model_schema(info.status)
    singular = info.kind.lower()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{info.plural}.{constants.GROUP}",
            "labels": {"app.kubernetes.io/name": "pace", "app.kubernetes.io/part-of": "pace"},
        },
        "spec": {
            "group": constants.GROUP,
            "names": {
                "kind": info.kind,
                "listKind": f"{info.kind}List",
                "plural": info.plural,
                "singular": singular,
                "shortNames": list(info.short_names),
                "categories": [constants.CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": constants.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in info.columns],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": info.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {
                                    "type": "string",
                                    "description": (
                                        "Versioned schema of this object: mlops.pace.dev/v1alpha1."
                                    ),
                                },
                                "kind": {"type": "string", "description": "REST resource kind."},
                                "metadata": {"type": "object"},
                                "spec": spec,
                                "status": status,
                            },
                        }
                    },
                }
            ],
        },
    }


def file_name(info: CrdInfo) -> str:
    """``<group>_<plural>.yaml``, kubebuilder's naming."""
    return f"{constants.GROUP}_{info.plural}.yaml"


def dump(crd: dict[str, Any]) -> str:
    """Stable YAML text of a CRD, with a header saying where it comes from."""
    header = "# Generated from operator/pace/api by `make crds`; do not edit by hand.\n---\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=100)


def render_all() -> dict[str, str]:
    """File name → YAML text for every CRD."""
    return {file_name(info): dump(render(info)) for info in RESOURCES}

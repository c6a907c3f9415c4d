"""Render an MLModel's SeldonDeployment (machinelearning.seldon.io/v1) (pure).

`main` serves the production version and `canary` the candidate; their integer traffic
weights sum to 100. Model artifacts are read from the object store with credentials from a
Secret reference (envSecretRefName), never inlined.
"""

from __future__ import annotations

from typing import Any

from pace.api import constants
from pace.api.mlmodel import MLModel, VersionRecord
from pace.core import labels

API_VERSION = "machinelearning.seldon.io/v1"
KIND = "SeldonDeployment"
MODEL_SERVER = {"classification": "SKLEARN_SERVER", "regression": "SKLEARN_SERVER"}


def served_method(task: str) -> str:
    """What the serving runtime calls on the model: class probabilities for a
    classification, the prediction for a regression."""
    return "predict_proba" if task == "classification" else "predict"


def model_folder(version: VersionRecord) -> str:
    """The s3:// folder holding model.joblib (what SKLEARN_SERVER expects)."""
    uri = version.artifact_uri or ""
    return uri.rsplit("/", 1)[0] if uri.endswith(".joblib") else uri


def _predictor(
    model: MLModel,
    name: str,
    version: VersionRecord,
    traffic: int,
    *,
    secret_name: str,
    log_url: str | None,
    log_token: str | None = None,
) -> dict[str, Any]:
    graph: dict[str, Any] = {
        "name": "model",
        "type": "MODEL",
        "implementation": MODEL_SERVER[model.spec.task],
        "modelUri": model_folder(version),
        "envSecretRefName": secret_name,
        "parameters": [
            {
                "name": "method",
                "type": "STRING",
                "value": served_method(model.spec.task),
            }
        ],
    }
    if log_url:  # the sink reads the version that answered from the URL's path
        graph["logger"] = {"mode": "all", "url": logger_url(log_url, version.version, log_token)}
    return {
        "name": name,
        "replicas": model.spec.serving.replicas,
        "traffic": traffic,
        "labels": {f"{constants.GROUP}/version": version.version},
        "graph": graph,
    }


def logger_url(log_url: str, version: str, token: str | None = None) -> str:
    """Where a predictor serving ``version`` posts its request/response/feedback logs; with
    the namespace's sink token as a query parameter (Seldon's request logger sends no
    headers of its own)."""
    url = f"{log_url.rstrip('/')}/versions/{version}"
    return f"{url}?token={token}" if token else url


def build(
    model: MLModel,
    *,
    serving: VersionRecord,
    candidate: VersionRecord | None,
    canary_weight: int,
    secret_name: str,
    log_url: str | None = None,
    log_token: str | None = None,
    shadow: bool = False,
) -> dict[str, Any]:
    """The SeldonDeployment for the current rollout state. ``shadow``: the candidate runs as
    Seldon's shadow predictor (``shadow: true``, traffic 0: it receives a mirrored copy of the
    requests and its answers are never returned). ``log_token``: the namespace's inference
    sink token (`pace.core.sink_auth`), carried in each predictor's logger URL."""
    log = {"log_url": log_url, "log_token": log_token}
    weight = canary_weight if candidate is not None else 0
    if not 0 <= weight <= 100:
        raise ValueError(f"canary weight {weight} outside 0-100")
    predictors = [_predictor(model, "main", serving, 100 - weight, secret_name=secret_name, **log)]
    if candidate is not None and shadow:
        mirrored = _predictor(model, "shadow", candidate, 0, secret_name=secret_name, **log)
        predictors.append({**mirrored, "shadow": True})
    elif candidate is not None and weight > 0:
        predictors.append(
            _predictor(model, "canary", candidate, weight, secret_name=secret_name, **log)
        )
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": model.name,
            "namespace": model.namespace,
            "labels": labels.model_labels(model.name),
            "ownerReferences": [
                labels.owner_reference(kind=constants.MLMODEL_KIND, name=model.name, uid=model.uid)
            ],
        },
        "spec": {
            "name": model.name,
            "protocol": model.spec.serving.protocol,
            "predictors": predictors,
        },
    }


def endpoint(gateway: str, *, namespace: str, name: str) -> str:
    """The URL that serves predictions through the gateway (Seldon's path layout)."""
    return f"{gateway.rstrip('/')}/seldon/{namespace}/{name}/api/v1.0/predictions"


def routing(sdep: dict[str, Any]) -> list[tuple[str, str | None, int, bool]]:
    """What a SeldonDeployment routes where: (predictor, version, traffic, shadow) of each
    predictor, by name (a rendered manifest and a stored object compare equal when they send
    the same traffic to the same versions)."""
    found = []
    for predictor in (sdep.get("spec") or {}).get("predictors") or []:
        labels = predictor.get("labels") or {}
        found.append(
            (
                str(predictor.get("name")),
                labels.get(f"{constants.GROUP}/version"),
                int(predictor.get("traffic") or 0),
                bool(predictor.get("shadow")),
            )
        )
    return sorted(found)


def canary_weight(manifest: dict[str, Any]) -> int:
    """Traffic percent a manifest sends to its canary predictor (0 when none)."""
    return next((t for name, _, t, _ in routing(manifest) if name == "canary"), 0)

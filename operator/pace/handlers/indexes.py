"""kopf indexes: other objects as the watch sees them, so no reconcile has to GET or LIST.

kopf fills every index from its initial listing before any daemon starts, and keeps it current
from the watch. The reconcilers read them through the helpers below (passed in as kwargs under
the index functions' names):

- ``pace_mlmodels`` / ``pace_driftmonitors``: (namespace, name) -> the object
  (policies and monitors read their model's status, policies their monitor's last check);
- ``pace_monitors_by_model``: (namespace, model) -> monitor names (the model's DriftDetected);
- ``pace_policies_by_target``: (namespace, "model" | "monitor", name) -> policy names
  (whom to wake when a model or monitor changes);
- ``pace_seldondeployments``: (namespace, name) -> the name, generation and status of each
  SeldonDeployment PACE manages (the MLModel's Ready and the canary's first step follow it);
- ``pace_runs_in_flight``: "in-flight" -> uids of MLModels whose status shows a run Pending or
  Running (the training queue counts them, so a restart never exceeds the limit); "queued" ->
  (uid, queued at, namespace/name) of runs waiting (the queue serves them in that order).

The index functions are coroutines: kopf calls a plain function through a thread pool, which
cost about a tenth of the operator's CPU when a thousand objects appeared at once.

An index function returns ``{}`` (never None) when an object no longer belongs under any key:
kopf keeps an object's previous entries when its function returns None.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import kopf

from pace.api import constants
from pace.core import seldon_manifest

MLMODELS = "pace_mlmodels"
MONITORS = "pace_driftmonitors"
MONITORS_BY_MODEL = "pace_monitors_by_model"
POLICIES_BY_TARGET = "pace_policies_by_target"
RUNS_IN_FLIGHT = "pace_runs_in_flight"
SELDON_DEPLOYMENTS = "pace_seldondeployments"
SELDON = ("machinelearning.seldon.io", "v1", "seldondeployments")
OURS = {constants.LABEL_MANAGED_BY: constants.MANAGER_NAME}
IN_FLIGHT = "in-flight"
QUEUED = "queued"


def _ref(spec: Mapping[str, Any], *path: str) -> str | None:
    node: Any = spec
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node if isinstance(node, str) else None


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def kept(body: Mapping[str, Any]) -> dict[str, Any]:
    """What an index keeps of an object: all but ``managedFields`` and kubectl's
    last-applied annotation (a second copy of the spec), which no reconcile reads and which
    would double the memory a thousand objects take."""
    meta = dict(body.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if annotations and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**body, "metadata": meta}


@kopf.index(constants.GROUP, constants.VERSION, constants.MLMODEL_PLURAL)
async def pace_mlmodels(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
    return {(namespace, name): kept(body)}


@kopf.index(constants.GROUP, constants.VERSION, constants.MLMODEL_PLURAL)
async def pace_runs_in_flight(
    status: kopf.Status, uid: str, namespace: str | None, name: str, **_: Any
) -> Any:
    training = status.get("training") or {}
    state = training.get("state")
    if state in ("Pending", "Running"):
        return {IN_FLIGHT: uid}
    if state == "Queued" and training.get("startedAt"):
        queued_at = datetime.fromisoformat(str(training["startedAt"]).replace("Z", "+00:00"))
        return {QUEUED: (uid, queued_at, f"{namespace}/{name}")}
    return {}


@kopf.index(constants.GROUP, constants.VERSION, constants.DRIFT_MONITOR_PLURAL)
async def pace_driftmonitors(body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
    return {(namespace, name): kept(body)}


@kopf.index(constants.GROUP, constants.VERSION, constants.DRIFT_MONITOR_PLURAL)
async def pace_monitors_by_model(
    spec: kopf.Spec, namespace: str | None, name: str, **_: Any
) -> Any:
    model = _ref(spec, "modelRef", "name")
    return {(namespace, model): name} if model else {}


@kopf.index(constants.GROUP, constants.VERSION, constants.RETRAIN_POLICY_PLURAL)
async def pace_policies_by_target(
    spec: kopf.Spec, namespace: str | None, name: str, **_: Any
) -> Any:
    keys: dict[Any, str] = {}
    model = _ref(spec, "modelRef", "name")
    monitor = _ref(spec, "triggers", "drift", "monitorRef", "name")
    if model:
        keys[(namespace, "model", model)] = name
    if monitor:
        keys[(namespace, "monitor", monitor)] = name
    return keys


@kopf.index(*SELDON, labels=OURS)
async def pace_seldondeployments(
    body: kopf.Body, namespace: str | None, name: str, **_: Any
) -> Any:
    return seldon_entry(body, namespace, name)


def seldon_entry(body: Mapping[str, Any], namespace: str | None, name: str) -> dict[Any, Any]:
    """Only what readiness reads, and where the deployment routes traffic (which the rollout
    compares with status): a thousand deployments' specs stay out of memory."""
    meta = body.get("metadata") or {}
    kept = {
        "metadata": {"name": name, "generation": meta.get("generation")},
        "status": dict(body.get("status") or {}),
        "routing": seldon_manifest.routing(dict(body)),
    }
    return {(namespace, name): kept}


def one(indexes: Mapping[str, Any], index: str, key: Any) -> dict[str, Any] | None:
    """The single object stored under ``key`` (None when absent)."""
    found = indexes[index].get(key)
    if not found:
        return None
    return dict(next(iter(found)))


def names(indexes: Mapping[str, Any], index: str, key: Any) -> list[str]:
    """Every name stored under ``key``, sorted."""
    return sorted(set(indexes[index].get(key) or ()))


def in_flight(indexes: Mapping[str, Any]) -> list[str]:
    return list(indexes[RUNS_IN_FLIGHT].get(IN_FLIGHT) or ())


def queued(indexes: Mapping[str, Any]) -> list[tuple[str, datetime, str]]:
    return list(indexes[RUNS_IN_FLIGHT].get(QUEUED) or ())

"""What a SeldonDeployment's status says about its predictors, and that status as Seldon Core
v1 writes it (pure).

Seldon's controller reports ``status.state`` (Creating, Available, Failed), a
``description``, and per Kubernetes Deployment of a predictor (named
``<deployment>-<predictor>-0-<container>``; the container of a prepackaged server is named
after the graph's unit, ``model`` in PACE's manifests) its ``replicas`` and
``availableReplicas``. The status also carries knative's ``observedGeneration`` (Seldon's
status embeds duckv1.Status); when present, a status older than the spec says nothing about
the spec.

`readiness` is what the MLModel's Ready condition and the canary's first step follow: a
predictor serves once its Deployment has an available replica and Seldon calls the whole
deployment Available. `render` is the status the local serving runtime writes, the same way,
only once a predictor answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

UNIT = "model"  # the graph unit (and so the container) name in PACE's manifests
State = Literal["Creating", "Available", "Failed"]


def deployment_name(sdep: str, predictor: str, *, container: str = UNIT) -> str:
    """The Kubernetes Deployment Seldon makes for a predictor (its name rule, hashed past
    63 characters)."""
    name = f"{sdep}-{predictor}-0-{container}"
    if len(name) > 63:
        return "seldon-" + hashlib.md5(name.encode()).hexdigest()  # Seldon's own rule
    return name


@dataclass(frozen=True)
class Readiness:
    """Whether the predictors asked about serve, and if not, why (reason is one CamelCase
    word for a condition)."""

    ready: bool
    reason: str
    message: str


def readiness(
    sdep: Mapping[str, Any] | None, predictors: Sequence[str], *, serving: bool = False
) -> Readiness:
    """Whether every one of ``predictors`` of the SeldonDeployment serves.

    Becoming ready takes a status that has seen the latest spec, the state Available and an
    available replica of each predictor's Deployment. ``serving``: the predictors were ready
    before; they stay ready while each keeps an available replica, whatever the state says
    (adding a canary or rolling main to a new version makes Seldon report Creating while the
    old replicas go on answering), and stop on Failed or when none is left.
    """
    if sdep is None:
        return Readiness(False, "PredictorStarting", "The SeldonDeployment does not exist yet.")
    meta, status = sdep.get("metadata") or {}, sdep.get("status") or {}
    name = meta.get("name", "")
    state = status.get("state")
    if state == "Failed":
        why = status.get("description") or "no description"
        return Readiness(False, "PredictorFailed", f"SeldonDeployment {name} failed: {why}")
    waiting = []
    deployments = status.get("deploymentStatus") or {}
    for predictor in predictors:
        found = deployments.get(deployment_name(name, predictor)) or {}
        available, wanted = found.get("availableReplicas", 0), found.get("replicas", 0)
        if not available:
            waiting.append(f"{predictor} {available}/{wanted or '?'} available")
    if serving and not waiting:
        return Readiness(True, "Available", f"SeldonDeployment {name} answers.")
    observed, generation = status.get("observedGeneration"), meta.get("generation")
    if observed is not None and generation is not None and int(observed) < int(generation):
        return Readiness(
            False,
            "PredictorStarting",
            f"SeldonDeployment {name} has not acted on its latest spec yet.",
        )
    if state != "Available" or waiting:
        detail = f" ({', '.join(waiting)})" if waiting else ""
        return Readiness(
            False,
            "PredictorStarting",
            f"SeldonDeployment {name} is {state or 'not reported yet'}{detail}.",
        )
    return Readiness(True, "Available", f"SeldonDeployment {name} is Available.")


@dataclass(frozen=True)
class PredictorState:
    """One predictor as a runtime sees it."""

    replicas: int
    available: int
    failure: str | None = None
    updating: bool = False  # a new replica is starting (the old one, if any, still answers)


def render(sdep: Mapping[str, Any], predictors: Mapping[str, PredictorState]) -> dict[str, Any]:
    """The status Seldon would write for these predictor states."""
    meta = sdep.get("metadata") or {}
    name = meta.get("name", "")
    failures = [f"{p}: {s.failure}" for p, s in predictors.items() if s.failure]
    ready = bool(predictors) and all(
        s.available >= max(1, s.replicas) and not s.updating for s in predictors.values()
    )
    state: State = "Failed" if failures else "Available" if ready else "Creating"
    return {
        "state": state,
        "description": "; ".join(failures)[:1024],
        "replicas": sum(s.replicas for s in predictors.values()),
        "deploymentStatus": {
            deployment_name(name, p): {
                "name": deployment_name(name, p),
                "replicas": s.replicas,
                "availableReplicas": s.available,
            }
            for p, s in predictors.items()
        },
        "observedGeneration": meta.get("generation"),
    }

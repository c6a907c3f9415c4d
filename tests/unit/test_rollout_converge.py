"""The SeldonDeployment follows status after a move was applied but not written (an operator
killed in between; found by `make chaos`: main served v2 while status still showed v1 with
v2's canary at 50 %, and the canary waited for a predictor that was gone)."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import Any

from pace.api.mlmodel import MLModel
from pace.config import OperatorConfig
from pace.core import seldon_manifest
from pace.handlers import indexes, mlmodel_rollout, reconciler

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def model() -> MLModel:
    def version(v: str, stage: str) -> dict[str, Any]:
        return {
            "version": v,
            "stage": stage,
            "artifactUri": f"s3://pace/models/team/wine/u/versions/{v}/model.joblib",
            "createdAt": NOW.isoformat(),
        }

    return MLModel.model_validate(
        {
            "name": "wine",
            "namespace": "team",
            "uid": "u-1",
            "generation": 1,
            "spec": {"task": "classification", "dataset": {"uri": "sklearn://wine", "target": "t"}},
            "status": {
                "versions": [version("v1", "production"), version("v2", "canary")],
                "servingVersion": "v1",
                "candidateVersion": "v2",
                "canary": {"weight": 50, "step": 0, "startedAt": NOW.isoformat()},
            },
        }
    )


class Kube:
    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []

    def apply_object(self, group: str, version: str, plural: str, body: dict[str, Any]) -> None:
        self.applied.append(body)


def context(stored: dict[str, Any] | None) -> tuple[reconciler.Context, Kube]:
    kube = Kube()
    memo = types.SimpleNamespace(
        kube=kube,
        config=OperatorConfig(serving_credentials="shared"),
        sink_key=None,
    )
    # As the operator's index keeps it (the index function itself, not a copy of its shape).
    kept = indexes.seldon_entry(stored, "team", "wine") if stored else {}
    found = {indexes.SELDON_DEPLOYMENTS: {k: [v] for k, v in kept.items()}}
    return reconciler.Context(
        memo=memo, indexes=found, logger=None, wakers=reconciler.Wakers()
    ), kube


def sdep(*predictors: tuple[str, str, int]) -> dict[str, Any]:
    return {
        "spec": {
            "predictors": [
                {"name": n, "traffic": t, "labels": {"mlops.pace.dev/version": v}}
                for n, v, t in predictors
            ]
        }
    }


async def test_a_deployment_ahead_of_status_is_put_back_to_what_status_says() -> None:
    ctx, kube = context(sdep(("main", "v2", 100)))  # the promotion was applied, not written
    assert await mlmodel_rollout.converge(model(), ctx)
    (applied,) = kube.applied
    assert seldon_manifest.routing(applied) == [
        ("canary", "v2", 50, False),
        ("main", "v1", 50, False),
    ]


async def test_a_missing_deployment_is_made_again() -> None:
    ctx, kube = context(None)
    assert await mlmodel_rollout.converge(model(), ctx)
    assert len(kube.applied) == 1


async def test_a_deployment_that_matches_status_is_left_alone() -> None:
    ctx, kube = context(sdep(("main", "v1", 50), ("canary", "v2", 50)))
    assert not await mlmodel_rollout.converge(model(), ctx)
    assert kube.applied == []

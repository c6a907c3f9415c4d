"""A RetrainPolicy whose schedule croniter cannot run: the reconcile names the field in
Ready=False (InvalidSpec) with one Warning event, and its drift trigger still requests a retrain.

The reconcile runs as the operator's loop runs it, against the objects kopf's indexes would
hold, with an in-memory store and API client (the I/O it does on firing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest

from pace.adapters import events
from pace.api import constants
from pace.api.mlmodel import MLModel
from pace.api.retrain_policy import RetrainPolicy
from pace.config import OperatorConfig
from pace.core import merge_patch
from pace.handlers import indexes, reconciler, retrain_policy

NS = "team-a"
NOW = datetime.now(UTC)
CHECKED = (NOW - timedelta(seconds=5)).isoformat()


class Store:
    """The audit log's write-once puts, in memory."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}

    def put_json(self, key: str, value: Any, *, once: bool = False) -> str:
        self.objects[key] = value
        return key


class Kube:
    """Records the retrain request the policy puts on the MLModel."""

    def __init__(self) -> None:
        self.annotated: list[tuple[str, str, dict[str, str]]] = []

    async def aannotate(
        self, plural: str, namespace: str, name: str, annotations: dict[str, str]
    ) -> None:
        self.annotated.append((plural, name, annotations))


class Memo:
    def __init__(self) -> None:
        self.store = Store()
        self.kube = Kube()
        self.prometheus = None
        self.config = OperatorConfig()


def policy(cron: str, *, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.RETRAIN_POLICY_KIND,
        "metadata": {
            "name": "p",
            "namespace": NS,
            "uid": "0123456789",
            "generation": 2,
            "creationTimestamp": (NOW - timedelta(hours=1)).isoformat(),
        },
        "spec": {
            "modelRef": {"name": "m"},
            "triggers": {
                "schedule": {"cron": cron},
                "drift": {"monitorRef": {"name": "d"}, "consecutiveChecks": 1},
            },
            "cooldown": "1h",
        },
        "status": status or {},
    }


MODEL = {
    "metadata": {"name": "m", "namespace": NS, "uid": "m-uid", "generation": 1},
    "spec": {"task": "regression", "dataset": {"uri": "sklearn://diabetes", "target": "target"}},
    "status": {
        "servingVersion": "v1",
        "training": {
            "run": "m-v1-x",
            "version": "v1",
            "specHash": "x",
            "trigger": "create",
            "backend": "local",
            "state": "Succeeded",
        },
    },
}
MONITOR = {
    "metadata": {"name": "d", "namespace": NS, "generation": 1},
    "spec": {"modelRef": {"name": "m"}},
    "status": {
        "lastCheck": CHECKED,
        "referenceVersion": "v1",
        "shareDrifted": 0.5,
        "conditions": [
            {
                "type": "DriftDetected",
                "status": "True",
                "reason": "Drift",
                "message": "50% of features drifted",
                "lastTransitionTime": CHECKED,
            }
        ],
    },
}


def context(memo: Memo) -> reconciler.Context:
    found = {
        indexes.MLMODELS: {(NS, "m"): [MODEL]},
        indexes.MONITORS: {(NS, "d"): [MONITOR]},
    }
    return reconciler.Context(memo=memo, indexes=found, logger=None, wakers=reconciler.Wakers())


async def look(body: dict[str, Any], memo: Memo) -> tuple[dict[str, Any], events.Pending]:
    """One reconcile; the object as its patch leaves it, and the events it posts."""
    patch = kopf.Patch()
    with events.deferred() as held:
        await retrain_policy.reconcile(body, patch, context(memo))
        posted = list(held)
    return merge_patch.apply(body, dict(patch)), posted


def ready(body: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == "Ready")


def warnings(posted: events.Pending) -> list[tuple[str, str]]:
    return [(reason, message) for _, type_, reason, message in posted if type_ == "Warning"]


@pytest.mark.parametrize("cron", ["99 * * * *", "0 0 30 2 *"])
async def test_a_broken_schedule_is_shown_and_drift_still_fires(cron: str) -> None:
    memo = Memo()
    after, posted = await look(policy(cron), memo)
    shown = ready(after)
    assert (shown["status"], shown["reason"]) == ("False", "InvalidSpec")
    assert shown["message"].startswith(f"spec.triggers.schedule.cron: {cron!r} cannot be")
    assert "the other triggers stay armed" in shown["message"]
    assert shown["observedGeneration"] == 2
    assert [reason for reason, _ in warnings(posted)] == ["InvalidSpec"]
    assert "spec.triggers.schedule.cron" in warnings(posted)[0][1]
    # The drift trigger fired all the same: counted, audited, requested on the model.
    assert after["status"]["lastTrigger"]["reason"].startswith("drift: d reported drift")
    assert after["status"]["triggerCount"] == 1
    assert [name for _, name, _ in memo.kube.annotated] == ["m"]
    assert len(memo.store.objects) == 1
    # And the next look is timed by the cooldown, not stopped by the cron.
    fired = datetime.fromisoformat(after["status"]["lastTrigger"]["time"])
    shown_policy = retrain_policy.RetrainPolicy.from_body(after)
    assert retrain_policy.next_look(shown_policy, now=fired) == pytest.approx(3600)


async def test_the_warning_is_posted_once_per_mistake() -> None:
    first, _ = await look(policy("99 * * * *"), Memo())
    again, posted = await look(policy("99 * * * *", status=first["status"]), Memo())
    assert ready(again) == ready(first)
    assert warnings(posted) == []  # the same mistake seen again: nothing new to say
    other, posted = await look(policy("0 25 * * *", status=first["status"]), Memo())
    assert "'0 25 * * *'" in ready(other)["message"]
    assert [reason for reason, _ in warnings(posted)] == ["InvalidSpec"]
    fixed, posted = await look(policy("0 3 * * *", status=first["status"]), Memo())
    assert (ready(fixed)["status"], ready(fixed)["reason"]) == ("True", "Ready")
    assert warnings(posted) == []


async def test_a_live_metric_the_model_never_measures_is_invalid_spec() -> None:
    """The model is a regression: accuracy is never measured, so that trigger could never
    fire; it is named, and drift still fires."""
    body = policy("0 3 * * *")
    body["spec"]["triggers"]["performance"] = {"metric": "accuracy", "below": 0.8}
    after, posted = await look(body, Memo())
    shown = ready(after)
    assert (shown["status"], shown["reason"]) == ("False", "InvalidSpec")
    assert shown["message"].startswith(
        "spec.triggers.performance.metric: 'accuracy' is not measured for a regression model"
    )
    assert [reason for reason, _ in warnings(posted)] == ["InvalidSpec"]
    assert after["status"]["triggerCount"] == 1


def test_a_check_without_a_verdict_is_not_recorded() -> None:
    """A monitor's check with no verdict (Unknown: nothing served to check yet) changes no
    streak and is not recorded: no write per policy when its monitor first looks at a model
    still in training. A check with a verdict is recorded, once."""
    unknown = {
        **MONITOR,
        "status": {
            **MONITOR["status"],
            "conditions": [
                {
                    "type": "DriftDetected",
                    "status": "Unknown",
                    "reason": "NoServingVersion",
                    "message": "nothing serves yet",
                    "lastTransitionTime": CHECKED,
                }
            ],
        },
    }
    body = policy("0 * * * *")
    parsed, model = RetrainPolicy.from_body(body), MLModel.from_body(MODEL)
    found = {indexes.MONITORS: {(NS, "d"): [unknown]}}
    seen, fields, problems = retrain_policy.observe_drift(parsed, model, found)
    assert (seen, fields, problems) == ({}, {}, [])
    found = {indexes.MONITORS: {(NS, "d"): [MONITOR]}}
    seen, fields, problems = retrain_policy.observe_drift(parsed, model, found)
    assert seen["drift_detected"] is True
    assert fields == {"lastDriftCheck": CHECKED, "driftReferenceVersion": "v1"}

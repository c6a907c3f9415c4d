"""An MLModel's first look: one write carries its first conditions and, riding along, the
DriftDetected its monitors give (a new model with a monitor writes once, not twice)."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import kopf

from pace.adapters import events
from pace.api import constants
from pace.config import OperatorConfig
from pace.handlers import indexes, mlmodel, reconciler

from .loop_support import DRIFTED

NAMESPACE, NAME, MONITOR = "ns", "iris", "watcher"


def _model() -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.MLMODEL_KIND,
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "uid": "u1",
            "generation": 1,
            "resourceVersion": "7",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"task": "classification", "dataset": {"uri": "sklearn://iris", "target": "y"}},
    }


def _context(monitor_status: dict[str, Any] | None) -> reconciler.Context:
    monitor: dict[str, Any] = {
        "metadata": {"name": MONITOR, "namespace": NAMESPACE},
        "spec": {"modelRef": {"name": NAME}, "source": {}, "reference": {}},
    }
    if monitor_status is not None:
        monitor["status"] = monitor_status
    found: dict[str, Any] = {
        indexes.MONITORS_BY_MODEL: {(NAMESPACE, NAME): [MONITOR]},
        indexes.MONITORS: {(NAMESPACE, MONITOR): [monitor]},
        indexes.SELDON_DEPLOYMENTS: {},
        indexes.RUNS_IN_FLIGHT: {},
        indexes.MLMODELS: {},
        indexes.POLICIES_BY_TARGET: {},
    }
    memo = types.SimpleNamespace(store=None, kube=None, config=OperatorConfig())
    return reconciler.Context(memo=memo, indexes=found, logger=None, wakers=reconciler.Wakers())


def _first_look(monitor_status: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    patch = kopf.Patch()
    with events.deferred():  # held, as the loop holds them until the write lands
        requeue = asyncio.run(mlmodel.reconcile(_model(), patch, _context(monitor_status)))
    assert requeue == 0.0  # a move was made
    return {c["type"]: c for c in patch.status["conditions"]}


def test_the_first_write_carries_the_monitors_verdict_along() -> None:
    shown = _first_look(None)  # the monitor has not checked yet
    assert shown["SpecValid"]["status"] == "True"
    assert (shown["DriftDetected"]["status"], shown["DriftDetected"]["reason"]) == (
        "Unknown",
        "NotChecked",
    )
    shown = _first_look(DRIFTED)
    assert shown["SpecValid"]["status"] == "True"
    assert shown["DriftDetected"]["status"] == "True"
    assert "DriftMonitor watcher" in shown["DriftDetected"]["message"]


def test_a_new_model_posts_no_event_for_where_every_model_starts() -> None:
    """Ready=False NotTrained is where every new model starts: a thousand new models post no
    thousand Warnings. Bad news at the first look (drift) is still announced."""
    for monitor_status, reasons in (
        (None, []),
        (DRIFTED, ["Drift"]),
    ):
        patch = kopf.Patch()
        with events.deferred() as held:
            asyncio.run(mlmodel.reconcile(_model(), patch, _context(monitor_status)))
        assert patch.status["phase"]  # the first conditions were written ...
        assert [reason for _body, _type, reason, _message in held] == reasons  # ... quietly


def test_the_spec_checks_run_once_per_generation() -> None:
    """The checks' verdict is kept for the spec's generation; a new generation checks again."""
    scratch: dict[Any, Any] = {}
    policy = OperatorConfig().read_policy
    body = _model()
    assert not isinstance(mlmodel.parse(body, policy, scratch), str)
    assert scratch["spec_checked"] == (("u1", 1), [])
    body["spec"]["training"] = {"algorithm": "no_such_algorithm"}
    assert not isinstance(mlmodel.parse(body, policy, scratch), str)  # same generation: kept
    body["metadata"]["generation"] = 2
    message = mlmodel.parse(body, policy, scratch)
    assert isinstance(message, str), message
    assert "no_such_algorithm" in message, message

"""Timers that would only spend looks: a queued model far from the head looks no more often
than its position may be rewritten, and a DriftMonitor whose model serves nothing keeps no
timer (the model's change wakes it)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import kopf

from pace.api import constants
from pace.api.drift_monitor import DriftMonitor
from pace.api.mlmodel import MLModel
from pace.handlers import drift_check, indexes, mlmodel, mlmodel_training, reconciler

from .loop_support import EARLY, NS, queued_model


def _queued_at(position: int) -> MLModel:
    body = queued_model()
    body["status"]["training"]["position"] = position
    return MLModel.from_body(body)


def test_a_queued_model_far_from_the_head_looks_once_a_position_refresh() -> None:
    limit = 2
    memo = SimpleNamespace(training_queue=SimpleNamespace(limit=limit))
    near, far = _queued_at(2 * limit), _queued_at(2 * limit + 1)
    assert mlmodel_training.seconds_until_queued_look(near, memo) == (
        mlmodel_training.QUEUED_SECONDS
    )
    assert mlmodel_training.seconds_until_queued_look(far, memo) == (
        mlmodel_training.POSITION_REFRESH_SECONDS
    )
    assert mlmodel_training.POSITION_REFRESH_SECONDS > mlmodel_training.QUEUED_SECONDS
    # No queued run, no queue asked (a memo without one is fine).
    assert mlmodel_training.seconds_until_queued_look(MLModel.from_body(_unqueued()), None) is None
    assert mlmodel.next_look(far, now=EARLY) is None  # the queue's looks are the queue's


def _unqueued() -> dict[str, Any]:
    body = queued_model()
    del body["status"]["training"]
    return body


def _monitor(last_check_ago: float) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.DRIFT_MONITOR_KIND,
        "metadata": {"name": "a", "namespace": NS, "uid": "um", "generation": 1},
        "spec": {"modelRef": {"name": "a"}, "interval": "30s"},
        "status": {
            "lastCheck": (EARLY - timedelta(seconds=last_check_ago)).isoformat(),
            "conditions": [
                {
                    "type": "DriftDetected",
                    "status": "Unknown",
                    "reason": "NoReference",
                    "message": "The model has no serving version yet.",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 1,
                }
            ],
        },
    }


def _check(body: dict[str, Any]) -> tuple[float | None, kopf.Patch]:
    ctx = reconciler.Context(
        memo=SimpleNamespace(store=object()),
        indexes={indexes.MLMODELS: {(NS, "a"): [queued_model()]}},  # serves nothing yet
        logger=logging.getLogger("t"),
        wakers=reconciler.Wakers(),
    )
    patch = kopf.Patch()
    monitor = DriftMonitor.from_body(body)
    return asyncio.run(drift_check.check(monitor, body, patch, ctx, EARLY)), patch


def test_a_monitor_whose_model_serves_nothing_keeps_no_timer_due_or_not() -> None:
    for ago in (1.0, 300.0):  # not due yet; due
        wait, patch = _check(_monitor(ago))
        assert wait is None, ago
        assert not dict(patch), ago  # NoReference shown already: nothing to write


def test_a_monitor_whose_model_serves_nothing_says_so_once() -> None:
    body = _monitor(1.0)
    body["status"] = {}
    wait, patch = _check(body)
    assert wait is None
    shown = patch["status"]["conditions"]
    assert [(c["type"], c["reason"]) for c in shown] == [("DriftDetected", "NoReference")]

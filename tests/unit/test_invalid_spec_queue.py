"""A queued model whose spec turns invalid gives up its place: its queued run is marked
Superseded, so a model behind it is not held back by a run that will never be submitted."""

from __future__ import annotations

import asyncio
import types
from datetime import timedelta
from typing import Any

import kopf

from pace.adapters import events
from pace.config import OperatorConfig
from pace.core.training_queue import TrainingQueue
from pace.handlers import indexes, mlmodel, reconciler

from .loop_support import EARLY, NS, queued_model


def _look(spec: dict[str, Any]) -> tuple[dict[str, Any], TrainingQueue, reconciler.Wakers]:
    queue = TrainingQueue(limit=1)
    queue.enqueue("ua", queued_at=EARLY, key=f"{NS}/a")
    queue.enqueue("ub", queued_at=EARLY + timedelta(seconds=1), key=f"{NS}/b")
    queue.running.add("busy")  # the one slot is taken
    wakers = reconciler.Wakers()
    memo = types.SimpleNamespace(
        store=object(),
        config=OperatorConfig(),
        training_queue=queue,
        training_queue_keys={"ua": ("mlmodels", NS, "a"), "ub": ("mlmodels", NS, "b")},
        wakers=wakers,
    )
    ctx = reconciler.Context(
        memo=memo, indexes={indexes.RUNS_IN_FLIGHT: {}}, logger=None, wakers=wakers
    )
    patch = kopf.Patch()
    with events.deferred():  # held, as the loop holds them until the write lands
        asyncio.run(mlmodel.reconcile(queued_model(spec=spec, generation=2), patch, ctx))
    return dict(patch), queue, wakers


def test_a_queued_model_whose_spec_turns_invalid_leaves_the_queue() -> None:
    spec = {
        "task": "classification",
        "dataset": {"uri": "sklearn://iris", "target": "y"},
        "training": {"algorithm": "no_such_algorithm"},
    }
    patch, queue, _wakers = _look(spec)
    conditions = {c["type"]: c for c in patch["status"]["conditions"]}
    assert conditions["SpecValid"]["reason"] == "InvalidSpec"
    training = patch["status"]["training"]
    assert training["state"] == "Superseded"
    assert "invalid" in training["message"]
    assert "ua" not in queue.waiting
    queue.running.discard("busy")
    assert queue.admit("ub")  # the model behind it is not held back


def test_a_spec_that_does_not_parse_also_gives_up_the_place() -> None:
    patch, queue, _wakers = _look({"task": "no-such-task", "dataset": {"uri": "sklearn://iris"}})
    assert patch["status"]["training"]["state"] == "Superseded"
    assert "ua" not in queue.waiting

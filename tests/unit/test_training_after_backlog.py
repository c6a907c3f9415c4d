"""Local training runs wait for the operator's backlog: a thousand objects applied together
get their first status before the runs (which share the operator's CPUs) start, and the
wait is bounded."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import kopf

from pace.api.mlmodel import MLModel
from pace.core.training_queue import TrainingQueue
from pace.handlers import indexes, mlmodel_training, reconciler

from .loop_support import EARLY, NS, queued_model


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_backlog_clears_after_every_first_look_and_says_so_once() -> None:
    clock = Clock()
    backlog = reconciler.Backlog(clock)
    cleared: list[int] = []
    backlog.on_clear.append(lambda: cleared.append(len(backlog)))
    assert backlog.clear(patience=10)
    backlog.started("a")
    backlog.started("b")
    assert not backlog.clear(patience=10)
    backlog.looked("a")
    backlog.looked("a")  # a second look of the same object changes nothing
    assert not backlog.clear(patience=10)
    assert cleared == []
    clock.now = 10.0  # objects arriving without pause hold nothing back for longer
    assert backlog.clear(patience=10)
    backlog.looked("b")
    assert cleared == [0]
    backlog.looked("b")
    assert cleared == [0]


def _memo(backend: str, wakers: reconciler.Wakers) -> types.SimpleNamespace:
    queue = TrainingQueue(limit=1)
    return types.SimpleNamespace(
        store=object(),
        backend=types.SimpleNamespace(name=backend),
        training_queue=queue,
        training_queue_keys={},
        wakers=wakers,
    )


def _look(memo: types.SimpleNamespace) -> dict[str, Any]:
    body = queued_model()
    model = MLModel.from_body(body)
    ctx = reconciler.Context(
        memo=memo,
        indexes={indexes.RUNS_IN_FLIGHT: {}},
        logger=None,
        wakers=memo.wakers,
    )
    patch = kopf.Patch()
    asyncio.run(mlmodel_training.advance(model, body, patch, ctx, EARLY))
    return dict(patch)


def test_a_local_run_takes_its_slot_only_once_the_backlog_has_cleared() -> None:
    wakers = reconciler.Wakers()
    memo = _memo("local", wakers)
    wakers.backlog.on_clear.append(lambda: mlmodel_training.wake_heads(memo))
    woken = wakers.event(("mlmodels", NS, "a"), "ua")
    wakers.backlog.started("another-object")
    assert _look(memo) == {}  # first in line, slot free: still waits
    assert "ua" not in memo.training_queue.running
    assert not woken.is_set()
    wakers.backlog.looked("another-object")
    assert woken.is_set()  # the head is woken at once ...
    # ... and its next look takes the slot (its first move: PACE's finalizer).
    assert _look(memo)["metadata"]["finalizers"] == [reconciler.FINALIZER]
    assert "ua" in memo.training_queue.running


def test_a_cluster_backends_run_does_not_wait_for_the_operators_backlog() -> None:
    wakers = reconciler.Wakers()
    memo = _memo("kfp", wakers)
    wakers.backlog.started("another-object")
    assert _look(memo)["metadata"]["finalizers"] == [reconciler.FINALIZER]


def test_a_held_back_run_looks_again_when_the_patience_runs_out() -> None:
    wakers = reconciler.Wakers()
    memo = _memo("local", wakers)
    model = MLModel.from_body(queued_model())
    assert mlmodel_training.seconds_until_admission(model, memo) is None  # nothing holds it
    wakers.backlog.started("another-object")
    due = mlmodel_training.seconds_until_admission(model, memo)
    assert due is not None
    assert mlmodel_training.BACKLOG_PATIENCE - 5 < due <= mlmodel_training.BACKLOG_PATIENCE
    assert mlmodel_training.seconds_until_admission(model, _memo("kfp", wakers)) is None

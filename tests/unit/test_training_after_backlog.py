"""Local training runs wait for the operator's backlog: a thousand objects applied together
get their first status before the runs (which share the operator's CPUs) start, and the
wait is bounded."""

from __future__ import annotations

import asyncio
import types
from datetime import timedelta
from typing import Any

import kopf
import pytest

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
    backlog = reconciler.Backlog(clock, quiet=2.0)
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


def test_an_empty_moment_between_two_applied_objects_does_not_clear_the_backlog() -> None:
    """An operator that keeps up with an apply empties its backlog between two objects: the
    waiting work starts only once it stayed empty for ``quiet`` seconds, and the patience
    counts from the first object of the whole apply."""
    clock = Clock()
    backlog = reconciler.Backlog(clock, quiet=2.0)
    for i in range(8):  # one object a second, each looked at before the next arrives
        clock.now = float(i)
        backlog.started(f"o{i}")
        clock.now = i + 0.5
        backlog.looked(f"o{i}")
        assert not backlog.clear(patience=100), i
        assert backlog.seconds_left(patience=100) == 2.0
    clock.now = 9.4
    assert backlog.seconds_left(patience=100) == pytest.approx(0.1)
    clock.now = 9.5
    assert backlog.clear(patience=100)  # the apply paused: two quiet seconds
    # Patience: the busy period began with o0 at 0 s, not with the latest object.
    backlog2 = reconciler.Backlog(clock, quiet=2.0)
    for i in range(30):
        clock.now = float(i)
        backlog2.started(f"o{i}")
        clock.now = i + 0.5
        backlog2.looked(f"o{i}")
    assert backlog2.clear(patience=20)
    # After a pause, the next object begins a new busy period.
    clock.now = 100.0
    backlog2.started("late")
    assert not backlog2.clear(patience=20)
    assert backlog2.seconds_left(patience=20) == 20.0


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


def _wakers(clock: Clock) -> reconciler.Wakers:
    wakers = reconciler.Wakers()
    wakers.backlog = reconciler.Backlog(clock, quiet=2.0)
    return wakers


def test_a_local_run_takes_its_slot_only_once_the_backlog_has_cleared() -> None:
    clock = Clock()
    wakers = _wakers(clock)
    memo = _memo("local", wakers)
    model = MLModel.from_body(queued_model())
    wakers.backlog.on_clear.append(lambda: mlmodel_training.wake_heads(memo))
    woken = wakers.event(("mlmodels", NS, "a"), "ua")
    wakers.backlog.started("another-object")
    assert _look(memo) == {}  # first in line, slot free: still waits
    assert "ua" not in memo.training_queue.running
    assert not woken.is_set()
    clock.now = 1.0
    wakers.backlog.looked("another-object")
    assert woken.is_set()  # the head is woken at once ...
    assert _look(memo) == {}  # ... and waits out the backlog's quiet seconds:
    assert mlmodel_training.seconds_until_admission(model, memo) == 2.0  # its next look
    clock.now = 3.0
    # ... then that look takes the slot (its first move: PACE's finalizer).
    assert _look(memo)["metadata"]["finalizers"] == [reconciler.FINALIZER]
    assert "ua" in memo.training_queue.running
    assert mlmodel_training.seconds_until_admission(model, memo) is None


def test_a_cluster_backends_run_does_not_wait_for_the_operators_backlog() -> None:
    wakers = reconciler.Wakers()
    memo = _memo("kfp", wakers)
    wakers.backlog.started("another-object")
    assert _look(memo)["metadata"]["finalizers"] == [reconciler.FINALIZER]


def test_a_held_back_run_looks_again_when_the_patience_runs_out() -> None:
    clock = Clock()
    wakers = _wakers(clock)
    memo = _memo("local", wakers)
    model = MLModel.from_body(queued_model())
    _look(memo)  # in the queue, at its head
    assert mlmodel_training.seconds_until_admission(model, memo) is None  # nothing holds it
    memo.training_queue.release("ua")
    wakers.backlog.started("another-object")
    assert _look(memo) == {}
    clock.now = 5.0
    due = mlmodel_training.seconds_until_admission(model, memo)
    assert due == mlmodel_training.BACKLOG_PATIENCE - 5
    assert mlmodel_training.seconds_until_admission(model, _memo("kfp", wakers)) is None


def test_only_the_runs_a_free_slot_would_admit_look_again_for_the_backlog() -> None:
    """A run behind the head is woken by the slot that frees for it, not by the backlog."""
    clock = Clock()
    wakers = _wakers(clock)
    memo = _memo("local", wakers)
    wakers.backlog.started("another-object")
    _look(memo)
    behind = queued_model("b", "ub")
    behind["status"]["training"]["startedAt"] = "2026-01-02T00:00:00+00:00"
    memo.training_queue.enqueue("ub", queued_at=EARLY + timedelta(days=1), key=f"{NS}/b")
    assert memo.training_queue.heads() == ["ua"]
    assert mlmodel_training.seconds_until_admission(MLModel.from_body(behind), memo) is None
    assert mlmodel_training.seconds_until_admission(MLModel.from_body(queued_model()), memo)

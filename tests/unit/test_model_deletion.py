"""An MLModel's deletion cleanup (`pace.handlers.mlmodel.deleted`) frees its place in the
training queue: a deleted model at the head of the queue never holds the others back."""

from __future__ import annotations

import asyncio
import types
from datetime import timedelta
from typing import Any

from pace.core.training_queue import TrainingQueue
from pace.handlers import indexes, mlmodel, reconciler

from .loop_support import EARLY, NS, queued_model


def test_a_deleted_queued_model_gives_its_place_to_the_next() -> None:
    queue = TrainingQueue(limit=1)
    queue.enqueue("first", queued_at=EARLY, key=f"{NS}/a")
    queue.enqueue("second", queued_at=EARLY + timedelta(seconds=1), key=f"{NS}/b")
    queue.running.add("busy")  # the one slot is taken
    memo = types.SimpleNamespace(
        training_queue=queue,
        training_queue_keys={
            "first": ("mlmodels", NS, "a"),
            "second": ("mlmodels", NS, "b"),
        },
        wakers=reconciler.Wakers(),
    )
    # Another model remains in the namespace: its serving key stays (no store involved).
    found: dict[str, Any] = {indexes.MLMODELS: {(NS, "b"): [{}]}}
    asyncio.run(mlmodel.deleted(queued_model("a", "first"), memo, found))
    assert "first" not in queue.waiting
    assert "first" not in memo.training_queue_keys
    queue.running.discard("busy")
    assert queue.admit("second")  # the deleted head held nothing back

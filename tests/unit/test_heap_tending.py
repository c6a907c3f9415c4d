"""The operator holds full collections back while a backlog of first looks lasts, and lets
them come again once it has been quiet (pace.handlers.lifecycle._tend_heap)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from pace.adapters import heap
from pace.handlers import lifecycle, reconciler


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_full_collections_are_held_while_the_backlog_lasts(monkeypatch: Any) -> None:
    monkeypatch.setattr(lifecycle, "HEAP_TICK", 0.01)
    clock = _Clock()
    backlog = reconciler.Backlog(clock)
    thresholds = gc.get_threshold()

    async def scenario() -> None:
        tender = asyncio.ensure_future(lifecycle._tend_heap(backlog))
        try:
            await asyncio.sleep(0.05)
            assert gc.get_threshold()[2] == heap.FULL_COLLECTION_EVERY  # nothing pending
            backlog.started("a")
            await asyncio.sleep(0.05)
            assert gc.get_threshold()[2] == heap.HELD_FULL_COLLECTION_EVERY
            backlog.looked("a")
            clock.now += 1.0  # empty, not yet quiet: a wave goes on between two objects
            await asyncio.sleep(0.05)
            assert gc.get_threshold()[2] == heap.HELD_FULL_COLLECTION_EVERY
            clock.now += reconciler.BACKLOG_QUIET
            await asyncio.sleep(0.05)
            assert gc.get_threshold()[2] == heap.FULL_COLLECTION_EVERY
            # A wave that never pauses holds them back at most FULL_COLLECTION_PATIENCE.
            backlog.started("b")
            await asyncio.sleep(0.05)
            assert gc.get_threshold()[2] == heap.HELD_FULL_COLLECTION_EVERY
            clock.now += lifecycle.FULL_COLLECTION_PATIENCE
            await asyncio.sleep(0.05)
            assert gc.get_threshold()[2] == heap.FULL_COLLECTION_EVERY
        finally:
            tender.cancel()
            await asyncio.gather(tender, return_exceptions=True)

    heap.fewer_full_collections()  # the operator's setting (pace.__main__)
    try:
        asyncio.run(scenario())
    finally:
        gc.set_threshold(*thresholds)


def test_an_operator_that_stops_lets_full_collections_come_again(monkeypatch: Any) -> None:
    monkeypatch.setattr(lifecycle, "HEAP_TICK", 0.01)
    backlog = reconciler.Backlog(_Clock())
    thresholds = gc.get_threshold()

    async def scenario() -> None:
        backlog.started("a")
        tender = asyncio.ensure_future(lifecycle._tend_heap(backlog))
        await asyncio.sleep(0.05)
        assert gc.get_threshold()[2] == heap.HELD_FULL_COLLECTION_EVERY
        tender.cancel()
        await asyncio.gather(tender, return_exceptions=True)
        assert gc.get_threshold()[2] == heap.FULL_COLLECTION_EVERY

    heap.fewer_full_collections()
    try:
        asyncio.run(scenario())
    finally:
        gc.set_threshold(*thresholds)

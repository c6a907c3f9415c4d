"""The loops' wakers: an object deleted and created again under the same name gets a loop of
its own, and the old loop's end leaves the new one wakeable."""

from __future__ import annotations

import asyncio

from pace.handlers import reconciler

KEY = ("mlmodels", "ns", "again")


def test_the_old_loops_end_does_not_take_the_new_loops_waker() -> None:
    async def scenario() -> None:
        wakers = reconciler.Wakers()
        old = wakers.event(KEY, "old-uid")
        wakers.mark_gone(KEY, "old-uid")  # the watch: the first object is gone
        assert old.is_set()
        assert wakers.gone("old-uid")
        new = wakers.event(KEY, "new-uid")  # created again before the old loop ended
        assert new is not old
        wakers.drop(KEY, "old-uid")  # the old loop ends
        wakers.wake(KEY)  # the watch's next event of the new object
        assert new.is_set()
        assert not wakers.gone("new-uid")

    asyncio.run(scenario())


def test_a_cleanup_waits_for_its_own_objects_loop_only() -> None:
    async def scenario() -> None:
        wakers = reconciler.Wakers()
        wakers.event(KEY, "old-uid")
        wakers.event(KEY, "new-uid")
        waiting = asyncio.ensure_future(wakers.ended("old-uid"))
        await asyncio.sleep(0)
        assert not waiting.done()
        wakers.drop(KEY, "old-uid")
        await asyncio.wait_for(waiting, 1)
        # The new object's loop runs on: a cleanup of it would wait.
        other = asyncio.ensure_future(wakers.ended("new-uid"))
        await asyncio.sleep(0.05)
        assert not other.done()
        wakers.drop(KEY, "new-uid")
        await asyncio.wait_for(other, 1)
        await wakers.ended("never-ran")  # no loop: returns at once

    asyncio.run(scenario())


def test_a_deletion_seen_for_another_uid_does_not_end_the_running_loop() -> None:
    wakers = reconciler.Wakers()
    running = wakers.event(KEY, "new-uid")
    wakers.mark_gone(KEY, "old-uid")  # a late DELETED of the object before it
    assert not wakers.gone("new-uid")
    assert not running.is_set()

"""The reconcile loop after a move: it looks again once the watch brings its write back (at
most ECHO_WAIT later), not at once from the write's response and then again at the echo."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import kopf

from pace.adapters import kube_api
from pace.handlers import reconciler

from .loop_support import NS, Stopper

KEY = ("ks", NS, "m")


class _Kube:
    """The API server's side of a conditional status patch: the stored object, one version on."""

    def __init__(self) -> None:
        self.writes = 0

    async def apatch_conditional(
        self, plural: str, namespace: str, name: str, patch: dict[str, Any], **_: Any
    ) -> dict[str, Any]:
        self.writes += 1
        meta = {"namespace": namespace, "name": name, "uid": "u1"}
        return {"metadata": {**meta, "resourceVersion": str(1 + self.writes)}, **patch}


class _Loop:
    """One object's loop over a reconcile that moves once ("look again": 0.0), then rests;
    ``looks`` are the resourceVersions it looked at."""

    def __init__(self) -> None:
        self.looks: list[str] = []
        self.kube = _Kube()
        self.memo = SimpleNamespace(
            kube=self.kube, wakers=reconciler.Wakers(), reconcile_slots=asyncio.Semaphore(1)
        )
        self.body: dict[str, Any] = {
            "metadata": {"namespace": NS, "name": "m", "uid": "u1", "resourceVersion": "1"}
        }
        self.stopped = Stopper()
        self.task: asyncio.Future[None] | None = None

    async def _reconcile(
        self, snapshot: dict[str, Any], patch: kopf.Patch, _ctx: Any
    ) -> float | None:
        self.looks.append(snapshot["metadata"]["resourceVersion"])
        if not (snapshot.get("status") or {}).get("moved"):
            patch.status["moved"] = True
            return 0.0
        return None

    def start(self) -> None:
        self.task = asyncio.ensure_future(
            reconciler.run(
                kind="K",
                plural="ks",
                reconcile=self._reconcile,
                body=self.body,  # type: ignore[arg-type]
                memo=self.memo,
                stopped=self.stopped,
                logger=logging.getLogger("t"),
                indexes={},
            )
        )

    async def stop(self) -> None:
        self.stopped.set()
        self.memo.wakers.wake(KEY)
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)


def test_after_a_move_the_loop_waits_for_the_watch_to_bring_the_write_back() -> None:
    async def scenario() -> None:
        loop = _Loop()
        loop.start()
        await asyncio.sleep(0.3)
        assert loop.kube.writes == 1
        assert loop.looks == ["1"], "no second look before the watch brings the write back"
        # The watch brings it: kopf swaps the live body and the event wakes the loop.
        loop.body["metadata"]["resourceVersion"] = "2"
        loop.body["status"] = {"moved": True}
        loop.memo.wakers.wake(KEY)
        await asyncio.sleep(0.1)
        assert loop.looks == ["1", "2"]  # one look of the written version, the watch's body
        assert loop.kube.writes == 1
        await loop.stop()

    asyncio.run(scenario())


def test_without_the_echo_the_loop_looks_again_after_echo_wait(monkeypatch: Any) -> None:
    monkeypatch.setattr(reconciler, "ECHO_WAIT", 0.2)

    async def scenario() -> None:
        loop = _Loop()
        loop.start()
        await asyncio.sleep(0.5)
        # The watch never caught up: the second look starts from what the write returned.
        assert loop.looks == ["1", "2"]
        assert loop.kube.writes == 1
        await loop.stop()

    asyncio.run(scenario())


def test_a_wake_from_another_object_before_the_echo_waits_for_the_echo() -> None:
    """A dependent's event (its monitor, its model) wakes the loop before the watch has brought
    its own write back: one look once the echo is in, not one for each."""

    async def scenario() -> None:
        loop = _Loop()
        loop.start()
        await asyncio.sleep(0.2)
        assert loop.looks == ["1"]
        loop.memo.wakers.wake(KEY)  # another object's event: the live body is still "1"
        await asyncio.sleep(0.2)
        assert loop.looks == ["1"], "no look while the write's echo is due"
        loop.body["metadata"]["resourceVersion"] = "2"
        loop.body["status"] = {"moved": True}
        loop.memo.wakers.wake(KEY)  # the echo
        await asyncio.sleep(0.1)
        assert loop.looks == ["1", "2"]
        loop.memo.wakers.wake(KEY)  # past the echo, a wake is a look at once
        await asyncio.sleep(0.1)
        assert loop.looks == ["1", "2", "2"]
        await loop.stop()

    asyncio.run(scenario())


def test_wakes_held_for_the_echo_still_end_at_echo_wait(monkeypatch: Any) -> None:
    monkeypatch.setattr(reconciler, "ECHO_WAIT", 1.0)

    async def scenario() -> None:
        loop = _Loop()
        loop.start()
        await asyncio.sleep(0.1)
        for _ in range(3):  # other objects' events keep coming; the echo never does
            loop.memo.wakers.wake(KEY)
            await asyncio.sleep(0.02)
        assert loop.looks == ["1"]
        await asyncio.sleep(1.3)
        assert loop.looks == ["1", "2"]  # once, at ECHO_WAIT, from what the write returned
        await loop.stop()

    asyncio.run(scenario())


def test_a_deleted_object_waiting_for_its_echo_ends_its_loop_at_once() -> None:
    async def scenario() -> None:
        loop = _Loop()
        loop.start()
        await asyncio.sleep(0.1)
        assert loop.task is not None
        assert not loop.task.done()
        loop.memo.wakers.mark_gone(KEY, "u1")  # the watch's DELETED event
        loop.memo.wakers.wake(KEY)
        await asyncio.wait_for(loop.task, 0.5)
        assert loop.looks == ["1"]

    asyncio.run(scenario())


def test_a_first_look_that_fails_is_retried_and_the_loop_goes_on(monkeypatch: Any) -> None:
    monkeypatch.setattr(reconciler, "backoff", lambda failures: 0.1)
    monkeypatch.setattr(reconciler.events, "warn", lambda *_, **__: None)

    async def scenario() -> None:
        loop = _Loop()
        moves = loop._reconcile

        async def failing_once(snapshot: dict[str, Any], patch: kopf.Patch, ctx: Any) -> Any:
            if not loop.looks:
                loop.looks.append("failed")
                raise RuntimeError("the store is down")
            return await moves(snapshot, patch, ctx)

        loop._reconcile = failing_once  # type: ignore[method-assign]
        loop.start()
        await asyncio.sleep(0.4)
        assert loop.task is not None
        assert not loop.task.done()
        # The failure was shown (one write), then the retry moved (a second write).
        assert loop.looks[:2] == ["failed", "2"]
        assert loop.kube.writes == 2
        await loop.stop()

    asyncio.run(scenario())


def test_a_loop_waiting_for_its_echo_stops_at_once() -> None:
    async def scenario() -> None:
        loop = _Loop()
        loop.start()
        await asyncio.sleep(0.1)
        started = asyncio.get_running_loop().time()
        await loop.stop()
        assert asyncio.get_running_loop().time() - started < 0.5
        assert loop.looks == ["1"]

    asyncio.run(scenario())


def test_a_conflict_with_an_object_created_again_ends_the_old_loop() -> None:
    """The write conflicts because the object was deleted and created again under the same
    name: the old loop ends instead of reconciling the new object as its own."""

    class _Recreated(_Kube):
        async def apatch_conditional(self, *_: Any, **__: Any) -> dict[str, Any]:
            self.writes += 1
            raise kube_api.Conflict("the object changed")

        async def aget_object(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
            meta = {"namespace": namespace, "name": name, "uid": "u2", "resourceVersion": "9"}
            return {"metadata": meta}

    async def scenario() -> None:
        loop = _Loop()
        loop.kube = loop.memo.kube = _Recreated()
        loop.start()
        assert loop.task is not None
        await asyncio.wait_for(loop.task, 2)  # ended on its own
        assert loop.kube.writes == 1
        assert loop.looks == ["1"]  # the new object ("u2") was never looked at here

    asyncio.run(scenario())

"""The reconcile loop after a move: it looks again once the watch brings its write back (at
most ECHO_WAIT later), not at once from the write's response and then again at the echo."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import kopf

from pace.handlers import reconciler

KEY = ("ks", "ns", "m")


class _Stopper:
    """kopf's daemon stopper: false until set."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


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


def test_after_a_move_the_loop_waits_for_the_watch_to_bring_the_write_back() -> None:
    looks: list[str] = []

    async def reconcile(snapshot: dict[str, Any], patch: kopf.Patch, _ctx: Any) -> float | None:
        looks.append(snapshot["metadata"]["resourceVersion"])
        if not (snapshot.get("status") or {}).get("moved"):
            patch.status["moved"] = True
            return 0.0  # a move: "look again"
        return None

    async def scenario() -> None:
        kube = _Kube()
        memo = SimpleNamespace(
            kube=kube, wakers=reconciler.Wakers(), reconcile_slots=asyncio.Semaphore(1)
        )
        body: dict[str, Any] = {
            "metadata": {"namespace": "ns", "name": "m", "uid": "u1", "resourceVersion": "1"}
        }
        stopped = _Stopper()
        loop = asyncio.ensure_future(
            reconciler.run(
                kind="K",
                plural="ks",
                reconcile=reconcile,
                body=body,  # type: ignore[arg-type]
                memo=memo,
                stopped=stopped,
                logger=logging.getLogger("t"),
                indexes={},
            )
        )
        await asyncio.sleep(0.3)
        assert kube.writes == 1
        assert looks == ["1"], "no second look before the watch brings the write back"
        # The watch brings it: kopf swaps the live body and the event wakes the loop.
        body["metadata"]["resourceVersion"] = "2"
        body["status"] = {"moved": True}
        memo.wakers.wake(KEY)
        await asyncio.sleep(0.1)
        assert looks == ["1", "2"]  # one look of the written version, from the watch's body
        assert kube.writes == 1
        stopped.set()
        memo.wakers.wake(KEY)
        await asyncio.wait_for(loop, 5)

    asyncio.run(scenario())


def test_without_the_echo_the_loop_looks_again_after_echo_wait(monkeypatch: Any) -> None:
    looks: list[str] = []
    monkeypatch.setattr(reconciler, "ECHO_WAIT", 0.2)

    async def reconcile(snapshot: dict[str, Any], patch: kopf.Patch, _ctx: Any) -> float | None:
        looks.append(snapshot["metadata"]["resourceVersion"])
        if not (snapshot.get("status") or {}).get("moved"):
            patch.status["moved"] = True
            return 0.0
        return None

    async def scenario() -> None:
        memo = SimpleNamespace(
            kube=_Kube(), wakers=reconciler.Wakers(), reconcile_slots=asyncio.Semaphore(1)
        )
        body: dict[str, Any] = {
            "metadata": {"namespace": "ns", "name": "m", "uid": "u1", "resourceVersion": "1"}
        }
        stopped = _Stopper()
        loop = asyncio.ensure_future(
            reconciler.run(
                kind="K",
                plural="ks",
                reconcile=reconcile,
                body=body,  # type: ignore[arg-type]
                memo=memo,
                stopped=stopped,
                logger=logging.getLogger("t"),
                indexes={},
            )
        )
        await asyncio.sleep(0.5)
        # The watch never caught up: the second look starts from what the write returned.
        assert looks == ["1", "2"]
        stopped.set()
        memo.wakers.wake(KEY)
        await asyncio.wait_for(loop, 5)

    asyncio.run(scenario())

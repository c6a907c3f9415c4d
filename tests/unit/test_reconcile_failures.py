"""How a failed reconcile is shown on the object, and cleared (pure parts of the loop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import SimpleNamespace
from typing import Any

import kopf

from pace.api.constants import FINALIZER
from pace.handlers import reconciler


def _object(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "m", "namespace": "ns", "generation": 3},
        "status": {"conditions": list(conditions)},
    }


READY = {
    "type": "Ready",
    "status": "True",
    "reason": "Serving",
    "message": "v1 is serving.",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}


def test_a_new_error_is_written_once_beside_the_other_conditions() -> None:
    patch = reconciler.failure_patch(_object(READY), "OSError: disk full")
    assert patch is not None
    shown = {c["type"]: c for c in patch["status"]["conditions"]}
    assert shown["Ready"] == READY
    assert shown["Reconciled"]["status"] == "False"
    assert shown["Reconciled"]["reason"] == "ReconcileError"
    assert shown["Reconciled"]["message"] == "OSError: disk full"
    assert shown["Reconciled"]["observedGeneration"] == 3
    assert "observedGeneration" not in patch["status"]  # the spec was not acted on
    # The same error again writes nothing; another one does.
    failing = _object(READY, shown["Reconciled"])
    assert reconciler.failure_patch(failing, "OSError: disk full") is None
    assert reconciler.failure_patch(failing, "OSError: gone") is not None


def test_the_next_successful_look_clears_it_on_top_of_its_own_move() -> None:
    failed = reconciler.failure_patch(_object(READY), "OSError: disk full")
    assert failed is not None
    failing = _object(*failed["status"]["conditions"])
    patch = kopf.Patch()
    reconciler.recovery(failing, patch)
    shown = {c["type"]: c for c in patch.status["conditions"]}
    assert (shown["Reconciled"]["status"], shown["Reconciled"]["reason"]) == ("True", "Recovered")
    # A move's own conditions are kept.
    moved = kopf.Patch()
    moved.status["conditions"] = [{**READY, "status": "False", "reason": "PredictorFailed"}]
    reconciler.recovery(failing, moved)
    kept = {c["type"]: c for c in moved.status["conditions"]}
    assert kept["Ready"]["reason"] == "PredictorFailed"
    assert kept["Reconciled"]["status"] == "True"
    # Nothing to clear: nothing written.
    untouched = kopf.Patch()
    reconciler.recovery(_object(READY), untouched)
    assert dict(untouched) == {}


def test_the_message_names_the_error_and_is_kept_short() -> None:
    assert reconciler.failure_message(ValueError("bad")) == "ValueError: bad"
    long = reconciler.failure_message(RuntimeError("x" * 5000))
    assert len(long) == reconciler.MAX_ERROR_MESSAGE
    assert long.endswith("…")


class _Stopper:
    """What kopf hands a daemon as ``stopped``: falsy until set, with the reasons it was set
    for."""

    def __init__(self) -> None:
        self.reason: kopf.DaemonStoppingReason | None = None
        self._event = asyncio.Event()

    def set(self, reason: kopf.DaemonStoppingReason) -> None:
        self.reason = reason if self.reason is None else self.reason | reason
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


def test_the_deletion_cleanup_runs_even_when_kopf_cancels_a_loop_stuck_mid_reconcile() -> None:
    """kopf cancels a deleted object's daemon that did not stop in time; the cleanup after the
    loop (the serving reader's removal) must still run, to its end."""
    cleaned: list[str] = []

    async def stuck(_snapshot: dict[str, Any], _patch: kopf.Patch, _ctx: Any) -> float:
        await asyncio.Event().wait()  # an I/O wait that never ends
        return 1.0

    async def cleanup(body: dict[str, Any], _memo: Any, _found: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)  # outlives the cancellation below
        cleaned.append(body["metadata"]["name"])

    async def scenario(reason: kopf.DaemonStoppingReason) -> None:
        memo = SimpleNamespace(wakers=reconciler.Wakers(), reconcile_slots=asyncio.Semaphore(1))
        body = {"metadata": {"namespace": "ns", "name": "m", "finalizers": [FINALIZER]}}
        stopper = _Stopper()
        loop = reconciler.daemon(kind="K", plural="ks", reconcile=stuck, on_deleted=cleanup)
        task = asyncio.ensure_future(
            loop(body=body, memo=memo, stopped=stopper, logger=logging.getLogger("t"))
        )
        await asyncio.sleep(0.05)  # the loop is inside `stuck`
        stopper.set(reason)
        stopper.set(kopf.DaemonStoppingReason.DAEMON_CANCELLED)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)

    asyncio.run(scenario(kopf.DaemonStoppingReason.RESOURCE_DELETED))
    assert cleaned == ["m"]
    # The operator exiting is not a deletion: nothing is cleaned up.
    asyncio.run(scenario(kopf.DaemonStoppingReason.OPERATOR_EXITING))
    assert cleaned == ["m"]

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

from .loop_support import Stopper


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


def test_a_deletion_cleanup_runs_once_after_the_loop_even_when_kopf_cancels_it_mid_look() -> None:
    """The cleanup is started by the watch, not by the object's daemon: kopf cancelling a loop
    caught mid-reconcile cannot cut it short; it waits for the loop to end, runs once however
    many events show the deletion, and never for an operator that merely exits."""
    cleaned: list[tuple[str, bool]] = []
    loops: list[asyncio.Future[None]] = []

    async def stuck(_snapshot: dict[str, Any], _patch: kopf.Patch, _ctx: Any) -> float:
        await asyncio.Event().wait()  # an I/O wait that never ends
        return 1.0

    async def cleanup(body: dict[str, Any], _memo: Any, _found: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)  # outlives a cancellation, were it exposed to one
        cleaned.append((body["metadata"]["name"], loops[-1].done()))

    async def scenario(deleted: bool) -> None:
        memo = SimpleNamespace(
            wakers=reconciler.Wakers(),
            reconcile_slots=asyncio.Semaphore(1),
            deletions=reconciler.Deletions(),
        )
        body = {"metadata": {"namespace": "ns", "name": "m", "uid": "u1"}}
        stopper = Stopper()
        loop = asyncio.ensure_future(
            reconciler.run(
                kind="K",
                plural="ks",
                reconcile=stuck,
                body=body,  # type: ignore[arg-type]
                memo=memo,
                stopped=stopper,
                logger=logging.getLogger("t"),
                indexes={},
            )
        )
        loops.append(loop)
        before = list(cleaned)
        await asyncio.sleep(0.05)  # the loop is inside `stuck`
        if deleted:
            for _ in range(2):  # the watch shows the deletion; then again (a re-list)
                reconciler.follow_deletion(
                    plural="ks",
                    body=body,
                    event_type="DELETED",
                    on_deleted=cleanup,
                    memo=memo,
                    indexes={},
                    logger=logging.getLogger("t"),
                )
        await asyncio.sleep(0.1)
        assert cleaned == before, "the cleanup waits for the loop to end"
        stopper.set()
        loop.cancel()  # kopf: the loop did not stop in time
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await asyncio.sleep(0.2)

    asyncio.run(scenario(deleted=True))
    assert cleaned == [("m", True)]  # once, after the loop ended
    # The operator exiting is not a deletion: nothing is cleaned up.
    asyncio.run(scenario(deleted=False))
    assert cleaned == [("m", True)]


def test_a_reconcile_puts_the_finalizer_on_once_beside_others() -> None:
    body = {"metadata": {"name": "m", "finalizers": ["other.example/keep"]}}
    patch = kopf.Patch()
    assert reconciler.hold_deletion(body, patch)
    assert patch.metadata["finalizers"] == ["other.example/keep", FINALIZER]
    held = {"metadata": {"name": "m", "finalizers": [FINALIZER]}}
    again = kopf.Patch()
    assert not reconciler.hold_deletion(held, again)
    assert dict(again) == {}

"""One reconcile in flight per object: the loop every PACE kind runs in its kopf daemon.

controller-runtime and Flagger keep one reconcile per object; so does PACE. Each MLModel,
DriftMonitor and RetrainPolicy gets one daemon (kopf runs one per object) whose loop

1. takes one snapshot of the object (kopf's live body, fed by the watch; after our own write,
   the object that write returned, until the watch catches up),
2. calls the kind's ``reconcile(body, patch, ctx)``, which decides one move and writes it into
   ``patch`` (status and annotations) and returns when to look again,
3. drops what would not change anything, and writes the rest with optimistic concurrency: a
   JSON merge patch carrying the ``resourceVersion`` it read, so the API server refuses it
   (409) if anything else wrote in between. A conflict reads the object again and decides
   again; nothing is ever overwritten blindly.
4. posts the move's events only once its write has landed, then sleeps until the requeue time,
   a change of the object (or of an object it depends on, see `pace.handlers.indexes`), or
   the operator's stop.

An exception never ends the loop: it is counted, logged, retried with exponential backoff
(1 s doubling to 5 min), and shown on the object: condition ``Reconciled=False`` (reason
``ReconcileError``, the error as message) with one Warning event, written when the message
changes, so a failure that repeats itself writes nothing more. The next look that succeeds
sets ``Reconciled=True`` (reason ``Recovered``) in the same write as its move.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from pace.adapters import events, kube_api, metrics
from pace.api import conditions, constants
from pace.api.conditions import ConditionType, Reason
from pace.core import merge_patch, status

Key = tuple[str, str, str]  # (plural, namespace, name)
IDLE_SECONDS = 60.0
CONCURRENT_RECONCILES = 32
"""Reconciles in flight at once across all objects: a thousand objects appearing together
queue for a slot instead of all holding a snapshot (and memory) at the same time."""
FINALIZER_WAIT = 5.0
MAX_BACKOFF = 300.0
GRACEFUL_STOP = 10.0


class Wakers:
    """One asyncio.Event per object: set to make its daemon look again now."""

    def __init__(self) -> None:
        self._events: dict[Key, asyncio.Event] = {}

    def event(self, key: Key) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def wake(self, key: Key) -> None:
        found = self._events.get(key)
        if found is not None:
            found.set()

    def drop(self, key: Key) -> None:
        self._events.pop(key, None)


@dataclass
class Context:
    """What a reconcile may use besides the snapshot: the operator's clients (``memo``), the
    indexes (other objects as the watch sees them), and a way to wake another object."""

    memo: Any
    indexes: dict[str, Any]
    logger: Any
    wakers: Wakers
    scratch: dict[Hashable, Any] = field(default_factory=dict)  # per-object, kept across loops


Reconcile = Callable[[dict[str, Any], kopf.Patch, Context], Awaitable[float | None]]


def backoff(failures: int) -> float:
    """1 s, 2 s, 4 s ... capped at five minutes, with ±10 % jitter."""
    base: float = min(MAX_BACKOFF, 2.0 ** max(0, failures - 1))
    return base * random.uniform(0.9, 1.1)


MAX_ERROR_MESSAGE = 1000


def failure_message(exc: BaseException) -> str:
    """What a user is told of a failed reconcile: the exception's type and text, cut short."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= MAX_ERROR_MESSAGE else text[: MAX_ERROR_MESSAGE - 1] + "…"


def failure_patch(snapshot: dict[str, Any], message: str) -> dict[str, Any] | None:
    """The status patch that shows a failed reconcile (None when it already shows this one).
    observedGeneration is left alone: the spec was not acted on."""
    before = conditions.parse_conditions(snapshot.get("status"))
    shown = status.find(before, ConditionType.RECONCILED)
    if shown is not None and shown.status == "False" and shown.message == message:
        return None
    failed = status.condition(
        ConditionType.RECONCILED,
        "False",
        Reason.RECONCILE_ERROR,
        message,
        generation=int(snapshot["metadata"].get("generation") or 0),
        now=datetime.now(UTC),
    )
    after = status.set_conditions(before, [failed])
    return {"status": {"conditions": status.conditions_to_k8s(after)}}


def recovery(snapshot: dict[str, Any], patch: kopf.Patch) -> None:
    """After failures, the successful look also sets Reconciled=True (on top of the
    conditions its move wrote, if any)."""
    raw = (snapshot.get("status") or {}).get("conditions") or []
    if not any(
        c.get("type") == ConditionType.RECONCILED and c.get("status") == "False" for c in raw
    ):
        return  # the common case, on every look: no parsing
    before = conditions.parse_conditions(snapshot.get("status"))
    moved = patch.status.get("conditions")
    current = conditions.parse_conditions({"conditions": moved}) if moved else before
    recovered = status.condition(
        ConditionType.RECONCILED,
        "True",
        Reason.RECOVERED,
        "Reconciled again after the error above.",
        generation=int(snapshot["metadata"].get("generation") or 0),
        now=datetime.now(UTC),
    )
    patch.status["conditions"] = status.conditions_to_k8s(
        status.set_conditions(current, [recovered])
    )


def _raw(body: Any) -> dict[str, Any]:
    return copy.deepcopy(dict(body))


def _rv(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("resourceVersion", ""))


async def write(
    kube: kube_api.KubeApi, plural: str, snapshot: dict[str, Any], patch: dict[str, Any]
) -> dict[str, Any] | None:
    """Apply the changing part of ``patch`` conditionally; the stored object, or None when
    there was nothing to write.

    Status goes to the status subresource, metadata (annotations) to the object, each at the
    resourceVersion known at that moment: the second write carries the version the first
    returned, so both stand on the same read.
    """
    changing = merge_patch.strip_noops(snapshot, patch)
    if not changing:
        return None
    meta = snapshot["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    rv = _rv(snapshot)
    stored = None
    if "status" in changing:
        stored = await kube.apatch_conditional(
            plural,
            namespace,
            name,
            {"status": changing["status"]},
            resource_version=rv,
            status=True,
        )
        rv = _rv(stored)
    if "metadata" in changing:
        stored = await kube.apatch_conditional(
            plural,
            namespace,
            name,
            {"metadata": changing["metadata"]},
            resource_version=rv,
            status=False,
        )
    return stored


async def run(
    *,
    kind: str,
    plural: str,
    reconcile: Reconcile,
    body: kopf.Body,
    memo: Any,
    stopped: Any,
    logger: Any,
    indexes: dict[str, Any],
) -> None:
    """The loop of one object's daemon (see the module docstring)."""
    meta = body["metadata"]
    key: Key = (plural, meta["namespace"], meta["name"])
    wakers: Wakers = memo.wakers
    slots: asyncio.Semaphore = memo.reconcile_slots
    waker = wakers.event(key)
    ctx = Context(memo=memo, indexes=indexes, logger=logger, wakers=wakers)
    latest: dict[str, Any] | None = None  # what our last write (or re-read) returned
    behind: str | None = None  # the live body's version when we wrote: it is behind `latest`
    failures = conflicts = 0
    stopper = asyncio.ensure_future(stopped.wait())
    stopper.add_done_callback(lambda _: waker.set())
    try:
        # kopf adds its finalizer as the object appears; a first write racing it would only
        # meet a conflict, so the first look waits (briefly) for the finalizer to be there.
        deadline = time.monotonic() + FINALIZER_WAIT
        while constants.FINALIZER not in (body["metadata"].get("finalizers") or []):
            if stopped or time.monotonic() > deadline:
                break
            waker.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waker.wait(), timeout=0.5)
        while not stopped:
            waker.clear()
            await slots.acquire()  # the snapshot is taken once a slot is ours: it is fresh
            snapshot = _raw(body)
            if latest is not None and _rv(snapshot) == behind:
                snapshot = latest
            patch = kopf.Patch()
            started = time.perf_counter()
            try:
                with events.deferred() as held:
                    requeue = await reconcile(snapshot, patch, ctx)
                    recovery(snapshot, patch)
                    stored = await write(memo.kube, plural, snapshot, dict(patch))
                events.flush(held)
                failures = conflicts = 0
                if stored is not None:
                    latest, behind = stored, _rv(snapshot)
                    metrics.STATUS_WRITES.labels(kind=kind).inc()
                    requeue = 0.0  # a move was made: look again from where it left us
            except kube_api.Conflict:
                metrics.RECONCILE_ERRORS.labels(kind=kind, reason="Conflict").inc()
                fresh = await memo.kube.aget_object(plural, key[1], key[2])
                if fresh is None:
                    return
                latest, behind = fresh, _rv(snapshot)
                conflicts += 1
                if conflicts < 3:
                    continue
                requeue = backoff(conflicts - 2)
            except kube_api.Gone:
                return
            except Exception as exc:
                failures += 1
                requeue = backoff(failures)
                if isinstance(exc, kopf.TemporaryError) and exc.delay:
                    requeue = float(exc.delay)
                reason = "Permanent" if isinstance(exc, kopf.PermanentError) else "Unexpected"
                metrics.RECONCILE_ERRORS.labels(kind=kind, reason=reason).inc()
                logger.exception(
                    f"reconcile failed ({failures} in a row); again in {requeue:.0f}s: {exc}"
                )
                shown = await _show_failure(memo.kube, plural, snapshot, exc, logger)
                if shown is not None:
                    latest, behind = shown, _rv(snapshot)
            finally:
                slots.release()
                metrics.RECONCILE_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
            if requeue == 0.0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waker.wait(), timeout=requeue or IDLE_SECONDS)
    finally:
        stopper.cancel()
        wakers.drop(key)


async def _show_failure(
    kube: kube_api.KubeApi, plural: str, snapshot: dict[str, Any], exc: Exception, logger: Any
) -> dict[str, Any] | None:
    """Write Reconciled=False and post its Warning event, when the message is new; the stored
    object, or None. A failure to write this is only logged (the next look tries again)."""
    message = failure_message(exc)
    patch = failure_patch(snapshot, message)
    if patch is None:
        return None
    try:
        stored = await write(kube, plural, snapshot, patch)
    except Exception as write_exc:  # a conflict or the API down: shown at the next failure
        logger.warning(f"could not show the reconcile error on the object: {write_exc}")
        return None
    events.warn(snapshot, reason=Reason.RECONCILE_ERROR, message=f"Reconcile failed: {message}")
    return stored


def deleted(stopped: Any) -> bool:
    """Whether a daemon was stopped because its object is being deleted."""
    reason = getattr(stopped, "reason", None)
    return reason is not None and bool(reason & kopf.DaemonStoppingReason.RESOURCE_DELETED)


async def _cleanup(
    on_deleted: Callable[[dict[str, Any], Any, dict[str, Any]], Awaitable[None]],
    body: dict[str, Any],
    memo: Any,
    indexes: dict[str, Any],
    logger: Any,
) -> None:
    try:
        await on_deleted(body, memo, indexes)
    except Exception as exc:  # the object goes anyway; say what was left behind
        logger.error(f"cleanup after deletion failed: {exc}")


def daemon(
    *,
    kind: str,
    plural: str,
    reconcile: Reconcile,
    on_deleted: Callable[[dict[str, Any], Any, dict[str, Any]], Awaitable[None]] | None = None,
) -> Callable[..., Awaitable[None]]:
    """The kopf daemon of one object: the loop, then (when the object is being deleted)
    ``on_deleted`` — also when kopf cancels a loop that did not stop in time (mid-reconcile):
    the cleanup is shielded from that cancellation and runs to its end."""

    async def reconcile_daemon(
        body: kopf.Body, memo: kopf.Memo, stopped: Any, logger: Any, **kwargs: Any
    ) -> None:
        try:
            await run(
                kind=kind,
                plural=plural,
                reconcile=reconcile,
                body=body,
                memo=memo,
                stopped=stopped,
                logger=logger,
                indexes=kwargs,
            )
        finally:
            if on_deleted is not None and deleted(stopped):
                await asyncio.shield(_cleanup(on_deleted, dict(body), memo, kwargs, logger))

    return reconcile_daemon


def register(
    *,
    kind: str,
    plural: str,
    reconcile: Reconcile,
    dependents: Callable[[dict[str, Any], dict[str, Any]], list[Key]] = lambda _b, _i: [],
    on_deleted: Callable[[dict[str, Any], Any, dict[str, Any]], Awaitable[None]] | None = None,
) -> None:
    """Run ``reconcile`` in one daemon per object of ``plural``; wake it (and the objects
    ``dependents`` names) on every watch event of the object. ``on_deleted`` runs once when
    the daemon stops because its object is being deleted (not when the operator exits); a
    failure there is logged, and the deletion goes on."""
    resource = (constants.GROUP, constants.VERSION, plural)
    reconcile_daemon = daemon(kind=kind, plural=plural, reconcile=reconcile, on_deleted=on_deleted)

    async def wake_on_change(
        body: kopf.Body, memo: kopf.Memo, namespace: str | None, name: str, **kwargs: Any
    ) -> None:
        wakers: Wakers = memo.wakers
        wakers.wake((plural, namespace or "", name))
        for other in dependents(dict(body), kwargs):
            wakers.wake(other)

    # A deleted object's loop is asked to stop and given GRACEFUL_STOP to finish its current
    # look; only then is it cancelled (kopf's default would cancel it at once).
    kopf.daemon(
        *resource,
        id="reconcile",
        cancellation_backoff=GRACEFUL_STOP,
        cancellation_timeout=10.0,
    )(reconcile_daemon)
    kopf.on.event(*resource, id="wake")(wake_on_change)

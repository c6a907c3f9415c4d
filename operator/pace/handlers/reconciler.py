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
   the operator's stop. After a move it looks again as soon as the watch brings the written
   version back (at most ``ECHO_WAIT`` later): one look per version, never two.

An exception never ends the loop: it is counted, logged, retried with exponential backoff
(1 s doubling to 5 min), and shown on the object: condition ``Reconciled=False`` (reason
``ReconcileError``, the error as message) with one Warning event, written when the message
changes, so a failure that repeats itself writes nothing more. The next look that succeeds
sets ``Reconciled=True`` (reason ``Recovered``) in the same write as its move.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from pace.adapters import events, kube_api, metrics
from pace.api import conditions, constants
from pace.api.conditions import ConditionType, Reason
from pace.core import merge_patch, status
from pace.handlers.indexes import kept

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # (plural, namespace, name)
IDLE_SECONDS = 60.0
CONCURRENT_RECONCILES = 64
"""Reconciles in flight at once across all objects: a thousand objects appearing together
queue for a slot instead of all holding a snapshot (and memory) at the same time. Most of a
look is spent waiting for its write (the API connections: 32, `pace.adapters.kube_async`);
with 32 slots, a wave's first looks waited up to 1.1 s for a slot in the scale bench."""
MAX_BACKOFF = 300.0
ECHO_WAIT = 2.0
"""After a write, how long a loop waits for the watch to bring the written version back
before it looks again anyway (from the object the write returned)."""
GRACEFUL_STOP = 10.0


BACKLOG_QUIET = 2.0
"""The backlog is clear once it has stayed empty this long: an operator that keeps up with a
thousand objects being applied empties it between two of them, and that is no pause."""


class Backlog:
    """Objects whose loop has not finished its first look yet: the operator's backlog (a
    thousand objects applied together, or found at start-up). Work that may wait for it (the
    local training runs, which share the operator's CPUs) asks `clear`: true once the backlog
    has been empty for ``quiet`` seconds, or has lasted ``patience``. ``on_clear`` callbacks
    run each time the last first look is done (the woken work then asks `seconds_left`)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, quiet: float = BACKLOG_QUIET
    ) -> None:
        self._pending: set[str] = set()
        self._since: float | None = None  # when the busy period began
        self._emptied_at: float | None = None  # when the backlog last became empty
        self._clock = clock
        self.quiet = quiet
        self.on_clear: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def started(self, uid: str) -> None:
        now = self._clock()
        if self._since is None or self._quiet_for(now) >= self.quiet:
            self._since = now  # a new busy period (the last one ended in a pause)
        self._pending.add(uid)
        self._emptied_at = None

    def looked(self, uid: str) -> None:
        if uid not in self._pending:
            return
        self._pending.discard(uid)
        if self._pending:
            return
        self._emptied_at = self._clock()
        for callback in self.on_clear:
            try:
                callback()
            except Exception:  # a loop's end must not fail on another's behalf
                log.exception("a backlog-cleared callback failed")

    def _quiet_for(self, now: float) -> float:
        """Seconds the backlog has been empty (0 while something is pending)."""
        if self._pending or self._emptied_at is None:
            return 0.0
        return now - self._emptied_at

    def clear(self, *, patience: float) -> bool:
        """True when the backlog has been empty for ``quiet`` seconds (or never began), or
        has lasted ``patience`` seconds (objects arriving without pause never hold the
        waiting work back for longer)."""
        return self.seconds_left(patience=patience) == 0.0

    def seconds_left(self, *, patience: float) -> float:
        """Seconds until `clear` turns true, if nothing else arrives (0: clear now)."""
        if self._since is None:
            return 0.0
        now = self._clock()
        by_patience = patience - (now - self._since)
        if self._pending:
            return max(0.0, by_patience)
        return max(0.0, min(self.quiet - self._quiet_for(now), by_patience))


class Wakers:
    """One asyncio.Event per running loop, found by the object's key: set to make its daemon
    look again now; and the uids of objects the watch saw deleted while their loop ran (kinds
    without a finalizer: kopf does not stop their daemons, the loop ends itself); and the
    operator's `Backlog`.

    Loops are told apart by uid: an object deleted and created again under the same name may
    start its loop while the old one still finishes its look, and the old loop's end must not
    take the new loop's event with it (the new one would never be woken by the watch)."""

    def __init__(self) -> None:
        self._loops: dict[str, asyncio.Event] = {}  # uid -> the event of its running loop
        self._current: dict[Key, str] = {}  # key -> uid of its newest loop
        self._gone: set[str] = set()
        self._ending: dict[str, asyncio.Event] = {}
        self.backlog = Backlog()

    def event(self, key: Key, uid: str = "") -> asyncio.Event:
        """The event of ``uid``'s loop (created at its start); ``key`` now wakes it."""
        self._current[key] = uid
        return self._loops.setdefault(uid, asyncio.Event())

    def wake(self, key: Key) -> None:
        uid = self._current.get(key)
        found = self._loops.get(uid) if uid is not None else None
        if found is not None:
            found.set()

    def drop(self, key: Key, uid: str = "") -> None:
        """``uid``'s loop ended."""
        self._loops.pop(uid, None)
        if self._current.get(key) == uid:
            del self._current[key]
        self._gone.discard(uid)
        ending = self._ending.pop(uid, None)
        if ending is not None:
            ending.set()

    def mark_gone(self, key: Key, uid: str) -> None:
        """The watch saw the object deleted: its loop (if one runs) ends at its next turn."""
        found = self._loops.get(uid)
        if found is not None:
            self._gone.add(uid)
            found.set()

    def gone(self, uid: str) -> bool:
        return uid in self._gone

    async def ended(self, uid: str) -> None:
        """Return once the loop of ``uid`` (if one runs) has ended."""
        if uid in self._loops:
            await self._ending.setdefault(uid, asyncio.Event()).wait()


@dataclass
class Context:
    """What a reconcile may use besides the snapshot: the operator's clients (``memo``), the
    indexes (other objects as the watch sees them), and a way to wake another object."""

    memo: Any
    indexes: dict[str, Any]
    logger: Any
    wakers: Wakers
    scratch: dict[Hashable, Any] = field(default_factory=dict)  # per-object, kept across loops
    seen_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When this operator's loop first saw the object."""


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
    """The snapshot a look works on: a copy of the live body (kopf swaps in each new watch
    event's object; a reconcile's own changes never reach kopf's), without what no reconcile
    reads (`pace.handlers.indexes.kept`). A JSON round trip: the body is JSON, and this is
    about five times cheaper than ``copy.deepcopy`` (a tenth of the operator's CPU at scale)."""
    copied: dict[str, Any] = json.loads(json.dumps(kept(body)))
    return copied


def _rv(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"].get("resourceVersion", ""))


class Snapshots:
    """Which copy of the object a look starts from.

    After a write, the watch (hence kopf's live body) can run behind by several of our own
    writes. Every version a write of ours replaced is remembered as stale: a live body at one
    of them is older than what the last write returned, so the look starts from that instead
    (starting from the stale body would only meet a conflict). A live body at any other
    version is at or past our last write (anything else writing in between would have made our
    write fail): it is used, and the remembered copy is dropped, so no second copy of an idle
    object is held.
    """

    def __init__(self) -> None:
        self.latest: dict[str, Any] | None = None
        self.stale: set[str] = set()

    def take(self, live: dict[str, Any]) -> dict[str, Any]:
        if self.latest is not None and _rv(live) in self.stale:
            return self.latest
        self.latest = None
        self.stale.clear()
        return live

    def behind(self, live: Mapping[str, Any]) -> bool:
        """Whether ``live`` is still a version a write of ours replaced (its echo is due)."""
        return self.latest is not None and _rv(live) in self.stale

    def wrote(self, over: dict[str, Any], stored: dict[str, Any], passed: set[str]) -> None:
        """A write (or a re-read after a conflict) replaced ``over`` by ``stored``; ``passed``
        are versions it went through on the way (status written, then metadata)."""
        self.stale.add(_rv(over))
        self.stale.update(passed)
        self.stale.discard(_rv(stored))  # a write the server found changed nothing
        self.latest = kept(stored)


async def write(
    kube: kube_api.KubeApi,
    plural: str,
    snapshot: dict[str, Any],
    patch: dict[str, Any],
    passed: set[str] | None = None,
) -> dict[str, Any] | None:
    """Apply the changing part of ``patch`` conditionally; the stored object, or None when
    there was nothing to write.

    Status goes to the status subresource, metadata (annotations) to the object, each at the
    resourceVersion known at that moment: the second write carries the version the first
    returned, so both stand on the same read (that version is added to ``passed``).
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
        if passed is not None:
            passed.add(rv)
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
    uid = str(meta.get("uid", ""))
    wakers: Wakers = memo.wakers
    slots: asyncio.Semaphore = memo.reconcile_slots
    waker = wakers.event(key, uid)
    ctx = Context(memo=memo, indexes=indexes, logger=logger, wakers=wakers)
    snapshots = Snapshots()
    failures = conflicts = 0
    stopper = asyncio.ensure_future(stopped.wait())
    stopper.add_done_callback(lambda _: waker.set())
    loops = metrics.RECONCILE_LOOPS.labels(kind=kind)
    loops.inc()
    wakers.backlog.started(uid)
    try:
        while not stopped and not wakers.gone(uid):
            waker.clear()
            stored: dict[str, Any] | None = None  # what this look's write returned, if any
            await slots.acquire()  # the snapshot is taken once a slot is ours: it is fresh
            snapshot = snapshots.take(_raw(body))
            passed: set[str] = set()
            patch = kopf.Patch()
            started = time.perf_counter()
            try:
                with events.deferred() as held:
                    requeue = await reconcile(snapshot, patch, ctx)
                    recovery(snapshot, patch)
                    stored = await write(memo.kube, plural, snapshot, dict(patch), passed)
                events.flush(held)
                failures = conflicts = 0
                if stored is not None:
                    snapshots.wrote(snapshot, stored, passed)
                    metrics.STATUS_WRITES.labels(kind=kind).inc()
                    # A move was made: look again from where it left us once the watch has
                    # brought the write back (kopf's body and the indexes then show it, and
                    # no second look is spent on the same version), or after ECHO_WAIT.
                    requeue = min(requeue or ECHO_WAIT, ECHO_WAIT)
            except kube_api.Conflict:
                metrics.RECONCILE_ERRORS.labels(kind=kind, reason="Conflict").inc()
                fresh = await memo.kube.aget_object(plural, key[1], key[2])
                if fresh is None or str(fresh["metadata"].get("uid", "")) != uid:
                    return  # gone (or deleted and created again: the new one has its own loop)
                snapshots.wrote(snapshot, fresh, passed)
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
                    snapshots.wrote(snapshot, shown, set())
            finally:
                slots.release()
                metrics.RECONCILE_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
                wakers.backlog.looked(uid)
            if requeue == 0.0:
                continue
            wrote = stored is not None
            # Nothing of this look is held while the object sleeps (a thousand idle objects).
            del snapshot, patch, held
            stored = None
            await _rest(
                waker,
                requeue or IDLE_SECONDS,
                behind=(lambda: snapshots.behind(body)) if wrote else None,
                ending=lambda: bool(stopped) or wakers.gone(uid),
            )
    finally:
        stopper.cancel()
        wakers.backlog.looked(uid)
        wakers.drop(key, uid)
        loops.dec()


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


async def _rest(
    waker: asyncio.Event,
    seconds: float,
    *,
    behind: Callable[[], bool] | None,
    ending: Callable[[], bool],
) -> None:
    """Until the loop is woken, or for ``seconds``. After a write (``behind`` given), a wake while
    the live body is still behind that write is held back until the watch brings the write
    back: the objects that depend on this one write at about the same time, and their news
    and the echo are then looked at once, not one look each (the scale bench: 9,600 looks in
    its wave instead of 11,400). The wait still ends after ``seconds`` (at most ECHO_WAIT after
    a write), and at once when the loop is ending."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            await asyncio.wait_for(waker.wait(), timeout=left)
        except TimeoutError:
            return
        if behind is None or ending() or not behind():
            return
        waker.clear()


OnDeleted = Callable[[dict[str, Any], Any, dict[str, Any]], Awaitable[None]]
FINALIZER = constants.FINALIZER
DELETION_RETRIES = 5


def has_finalizer(obj: Any) -> bool:
    return constants.FINALIZER in (obj["metadata"].get("finalizers") or [])


def hold_deletion(body: dict[str, Any], patch: kopf.Patch) -> bool:
    """Put PACE's finalizer into ``patch`` unless the object has it (True when it was put): a
    reconcile does this as a move of its own, before it first makes something the object's
    deletion must clean up, so that deletion waits for the cleanup."""
    if has_finalizer(body):
        return False
    patch.metadata["finalizers"] = [*(body["metadata"].get("finalizers") or []), FINALIZER]
    return True


class Deletions:
    """The deletion cleanups of the operator, one per object uid: started by the watch (an
    object marked for deletion while it holds PACE's finalizer, or gone without one), run
    once, never cancelled by the object's daemon stopping."""

    def __init__(self) -> None:
        self.running: dict[str, asyncio.Task[None]] = {}
        self.finished: set[str] = set()

    def start(self, uid: str, work: Coroutine[Any, Any, None], *, held: bool) -> None:
        """Run ``work`` unless this uid's cleanup runs or ran; ``held``: the object still
        exists (PACE's finalizer holds it), and its DELETED event, still to come, must not
        start the cleanup again."""
        if uid in self.running or uid in self.finished:
            work.close()
            return
        task = asyncio.ensure_future(work)
        self.running[uid] = task

        def done(_: asyncio.Task[None]) -> None:
            self.running.pop(uid, None)
            if held:
                self.finished.add(uid)

        task.add_done_callback(done)

    def forget(self, uid: str) -> bool:
        """The watch shows the object gone: True when its cleanup already ran (or runs)."""
        if uid in self.running:
            return True
        if uid in self.finished:
            self.finished.discard(uid)
            return True
        return False


def follow_deletion(
    *,
    plural: str,
    body: dict[str, Any],
    event_type: str | None,
    on_deleted: OnDeleted | None,
    memo: Any,
    indexes: dict[str, Any],
    logger: Any,
) -> None:
    """Start the cleanup an event calls for: an object marked for deletion that holds PACE's
    finalizer is cleaned up and then let go (also when the operator was down at the deletion:
    the initial listing brings it here); an object gone without it (it never made anything
    that needed the wait) is cleaned up after the fact."""
    meta = body["metadata"]
    uid = str(meta.get("uid", ""))
    deletions: Deletions = memo.deletions
    if event_type == "DELETED":
        if deletions.forget(uid) or on_deleted is None or has_finalizer(body):
            return
        cleanup = _clean_up(plural, body, on_deleted, memo, indexes, logger, release=False)
        deletions.start(uid, cleanup, held=False)
    elif meta.get("deletionTimestamp") and has_finalizer(body):
        cleanup = _clean_up(plural, body, on_deleted, memo, indexes, logger, release=True)
        deletions.start(uid, cleanup, held=True)


async def _clean_up(
    plural: str,
    body: dict[str, Any],
    on_deleted: OnDeleted | None,
    memo: Any,
    indexes: dict[str, Any],
    logger: Any,
    *,
    release: bool,
) -> None:
    """Wait for the object's loop to end (kopf stops it on the deletion; it finishes its look
    first), run ``on_deleted``, then remove PACE's finalizer (conditional on what was read: a
    conflict reads again)."""
    meta = body["metadata"]
    key: Key = (plural, meta["namespace"], meta["name"])
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2 * GRACEFUL_STOP):
            await memo.wakers.ended(str(meta.get("uid", "")))
    if on_deleted is not None:
        try:
            await on_deleted(body, memo, indexes)
        except Exception as exc:  # the object goes anyway; say what was left behind
            logger.error(f"cleanup after deletion failed: {exc}")
    if not release:
        return
    for attempt in range(DELETION_RETRIES):
        current = await memo.kube.aget_object(*key)
        if current is None or current["metadata"].get("uid") != meta.get("uid"):
            return
        kept_finalizers = [f for f in current["metadata"].get("finalizers") or [] if f != FINALIZER]
        try:
            await memo.kube.apatch_conditional(
                plural,
                key[1],
                key[2],
                {"metadata": {"finalizers": kept_finalizers or None}},
                resource_version=_rv(current),
                status=False,
            )
            return
        except kube_api.Conflict:
            await asyncio.sleep(backoff(attempt + 1) / 10)
        except kube_api.Gone:
            return
    logger.error(f"could not remove the finalizer {FINALIZER} after {DELETION_RETRIES} tries")


def register(
    *,
    kind: str,
    plural: str,
    reconcile: Reconcile,
    dependents: Callable[[dict[str, Any], dict[str, Any]], list[Key]] = lambda _b, _i: [],
    on_deleted: OnDeleted | None = None,
) -> None:
    """Run ``reconcile`` in one daemon per object of ``plural``; wake it (and the objects
    ``dependents`` names) on every watch event of the object. ``on_deleted`` runs once when
    the object is deleted (not when the operator exits); a failure there is logged, and the
    deletion goes on.

    kopf's finalizer is left off every kind (kopf would add one for any daemon, a write per
    object before its first status). PACE's own (`FINALIZER`) is put on by the reconcile
    itself, with `hold_deletion`, before it first makes something the deletion must clean up
    (an MLModel: before its first training run starts), so a thousand models waiting in the
    training queue cost no write for it and can be deleted while the operator is down. An
    object holding it is cleaned up and let go by `follow_deletion`; one without it goes at
    once, and its cleanup (if its kind has one) runs after the fact."""
    resource = (constants.GROUP, constants.VERSION, plural)

    async def reconcile_daemon(
        body: kopf.Body, memo: kopf.Memo, stopped: Any, logger: Any, **kwargs: Any
    ) -> None:
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

    async def wake_on_change(
        body: kopf.Body,
        memo: kopf.Memo,
        namespace: str | None,
        name: str,
        type: str | None,  # kopf's name for the raw event's type
        uid: str | None,
        logger: Any,
        **kwargs: Any,
    ) -> None:
        wakers: Wakers = memo.wakers
        key = (plural, namespace or "", name)
        if type == "DELETED":
            wakers.mark_gone(key, uid or "")
        wakers.wake(key)
        raw = dict(body)
        for other in dependents(raw, kwargs):
            wakers.wake(other)
        follow_deletion(
            plural=plural,
            body=raw,
            event_type=type,
            on_deleted=on_deleted,
            memo=memo,
            indexes=kwargs,
            logger=logger,
        )

    # A deleted object's loop is asked to stop and given GRACEFUL_STOP to finish its current
    # look; only then is it cancelled (kopf's default would cancel it at once).
    options: dict[str, Any] = {
        "id": "reconcile",
        "cancellation_backoff": GRACEFUL_STOP,
        "cancellation_timeout": 10.0,
    }
    register_without_finalizer(resource, reconcile_daemon, options)
    kopf.on.event(*resource, id="wake")(wake_on_change)


def register_without_finalizer(
    resource: tuple[str, str, str], fn: Callable[..., Awaitable[None]], options: dict[str, Any]
) -> None:
    """``kopf.daemon`` with kopf's finalizer left off. kopf's decorator always asks for one
    (``requires_finalizer=True``) and offers no option, so the daemon is registered in a
    scratch registry and its handler moved to the operator's with that one field changed.
    ``tests/unit/test_reconciler_registration.py`` pins this against kopf's registry."""
    scratch = kopf.OperatorRegistry()
    kopf.daemon(*resource, registry=scratch, **options)(fn)
    (handler,) = scratch._spawning.get_all_handlers()
    kopf.get_default_registry()._spawning.append(
        dataclasses.replace(handler, requires_finalizer=False)
    )

"""The operator's training queue: at most `limit` pipeline runs at a time, first come first
served (pure, in memory).

Every MLModel whose status says a run is Queued asks `admit` on each look; the earliest queued
(by queue time, then name) takes a free slot. Runs already in flight when the operator starts
are counted through `in_flight` (the MLModel index fills it before any reconcile runs), so a
restart never starts more than the limit. `release` frees a slot when a run ends or is
cancelled, and returns the uids that should look again (the new head of the queue).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class TrainingQueue:
    """FIFO admission of training runs under a concurrency limit."""

    limit: int
    in_flight: Callable[[], Iterable[str]] = lambda: ()
    """uids whose stored status shows a run Pending or Running (the watch's view)."""
    queued: Callable[[], Iterable[tuple[str, datetime, str]]] = lambda: ()
    """(uid, queued at, namespace/name) of runs stored as Queued (the watch's view), so the
    order is first come first served even for models that have not asked yet."""
    running: set[str] = field(default_factory=set)
    """uids admitted by this process (ahead of the watch)."""
    waiting: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    """uid -> (queued at, namespace/name) for runs waiting for a slot."""
    order_ttl: float = 0.0
    """How long the order may be reused while this process changes nothing (0: never). The
    operator sets a second: a thousand queued models each asking for their position would
    otherwise sort the whole queue a thousand times; the watch's view of other processes'
    queued runs is then at most that old."""
    clock: Callable[[], float] = time.monotonic
    _order: list[str] | None = field(default=None, repr=False)
    _keys: list[tuple[datetime, str, str]] = field(default_factory=list, repr=False)
    """The sort keys of ``_order``, in its order: (queued at, namespace/name, uid)."""
    _order_set: set[str] = field(default_factory=set, repr=False)
    _order_at: float = field(default=0.0, repr=False)

    def _changed(self) -> None:
        self._order = None

    def occupied(self) -> set[str]:
        return self.running | set(self.in_flight())

    def enqueue(self, uid: str, *, queued_at: datetime, key: str) -> None:
        if uid in self.running or uid in self.waiting:
            return
        self.waiting[uid] = (queued_at, key)
        if self._order is None or uid in self._order_set:
            self._changed()
            return
        # Into the kept order in its place (a thousand models queued together would
        # otherwise sort the whole queue once each).
        sort_key = (queued_at, key, uid)
        at = bisect.bisect_left(self._keys, sort_key)
        self._keys.insert(at, sort_key)
        self._order.insert(at, uid)
        self._order_set.add(uid)

    def _all_waiting(self) -> dict[str, tuple[datetime, str]]:
        known = {uid: (at, key) for uid, at, key in self.queued() if uid not in self.running}
        return {**known, **self.waiting}

    def order(self) -> list[str]:
        now = self.clock()
        if self._order is None or now - self._order_at > self.order_ttl:
            waiting = self._all_waiting()
            self._keys = sorted((at, key, uid) for uid, (at, key) in waiting.items())
            self._order = [uid for _at, _key, uid in self._keys]
            self._order_set = set(self._order)
            self._order_at = now
        return self._order

    def position(self, uid: str) -> int | None:
        """1-based place in the queue; None when not waiting."""
        found = self.waiting.get(uid)
        if found is None:
            return None
        self.order()
        sort_key = (*found, uid)
        at = bisect.bisect_left(self._keys, sort_key)
        if at == len(self._keys) or self._keys[at] != sort_key:
            self._changed()
            self.order()
            at = bisect.bisect_left(self._keys, sort_key)
        return at + 1

    def admit(self, uid: str) -> bool:
        """Take a slot if one is free and ``uid`` is the earliest waiting run."""
        if uid in self.running:
            return True
        busy = self.occupied() - {uid}
        free = self.limit - len(busy)
        if free <= 0 or uid not in self.waiting:
            return False
        ahead = [u for u in self.order() if u not in busy][:free]
        if uid not in ahead:
            return False
        del self.waiting[uid]
        self.running.add(uid)
        self._changed()
        return True

    def adopt(self, uid: str) -> None:
        """A run found in flight (after a restart, or submitted before the queue saw it)."""
        self.waiting.pop(uid, None)
        self.running.add(uid)
        self._changed()

    def release(self, uid: str) -> list[str]:
        """Free ``uid``'s slot (or its place in the queue); the uids that may now start."""
        self.running.discard(uid)
        self.waiting.pop(uid, None)
        self._changed()
        return self.heads(freed=uid)

    def heads(self, *, freed: str = "") -> list[str]:
        """The waiting uids a free slot would admit now (``freed``: a uid whose run just
        ended, still counted in flight by the watch's view)."""
        free = self.limit - len(self.occupied() - {freed})
        return self.order()[: max(free, 0)]


def position_worth_writing(
    written: int | None, current: int | None, *, limit: int, seconds_since: float, refresh: float
) -> bool:
    """Whether a queued run's position in status should be rewritten: at once near the head
    (within two rounds of the limit) and when none is written; otherwise at most once per
    ``refresh`` seconds, and only once it moved by a tenth or more. A thousand queued models
    then cost a handful of writes each while the queue drains, not one per finished run."""
    if current == written:
        return False
    if written is None or (current is not None and current <= 2 * limit):
        return True
    if seconds_since < refresh:
        return False
    return current is None or 10 * abs(current - written) >= written


def default_limit(*, cpus: int, memory_bytes: int, per_run_bytes: int = 400 * 2**20) -> int:
    """Runs that fit the operator: one per CPU, and no more than memory allows (≈ 400 MB a
    run with its worker processes), at least one."""
    return max(1, min(cpus, memory_bytes // per_run_bytes))

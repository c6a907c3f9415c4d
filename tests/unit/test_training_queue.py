"""The training queue: first come first served under a limit, restart-safe counting."""

import random
from datetime import UTC, datetime, timedelta

from pace.core import training_queue
from pace.core.training_queue import TrainingQueue

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _queue(limit: int, n: int, *, in_flight: tuple[str, ...] = ()) -> TrainingQueue:
    queue = TrainingQueue(limit=limit, in_flight=lambda: in_flight)
    for i in range(n):
        queue.enqueue(f"u{i}", queued_at=T0 + timedelta(seconds=i), key=f"ns/m{i}")
    return queue


def test_admits_in_queue_order_up_to_the_limit() -> None:
    queue = _queue(2, 4)
    assert [queue.position(f"u{i}") for i in range(4)] == [1, 2, 3, 4]
    assert not queue.admit("u3")  # not its turn
    assert queue.admit("u0")
    assert queue.admit("u1")
    assert not queue.admit("u2")  # no slot left
    assert queue.position("u2") == 1
    assert queue.release("u0") == ["u2"]  # the new head is told
    assert queue.admit("u2")
    assert queue.admit("u2")  # asking again is harmless
    assert queue.occupied() == {"u1", "u2"}


def test_ties_break_by_name_and_enqueue_is_idempotent() -> None:
    queue = TrainingQueue(limit=1)
    queue.enqueue("b", queued_at=T0, key="ns/b")
    queue.enqueue("a", queued_at=T0, key="ns/a")
    queue.enqueue("a", queued_at=T0 + timedelta(hours=1), key="ns/a")
    assert queue.order() == ["a", "b"]


def test_runs_in_flight_after_a_restart_count_against_the_limit() -> None:
    queue = _queue(1, 2, in_flight=("old",))
    assert not queue.admit("u0")
    queue.adopt("old")
    assert queue.release("old") == ["u0"]


def test_release_of_a_waiting_run_leaves_the_queue() -> None:
    queue = _queue(1, 3)
    assert queue.admit("u0")
    queue.release("u1")  # superseded while queued
    assert queue.order() == ["u2"]


def test_default_limit_from_cpus_and_memory() -> None:
    gib = 2**30
    assert training_queue.default_limit(cpus=8, memory_bytes=64 * gib) == 8
    assert training_queue.default_limit(cpus=8, memory_bytes=1 * gib) == 2
    assert training_queue.default_limit(cpus=2, memory_bytes=100 * 2**20) == 1


def test_runs_stored_as_queued_keep_their_place_before_they_ask() -> None:
    stored = (("early", T0 - timedelta(minutes=1), "ns/early"),)
    queue = _queue(1, 2)
    queue.queued = lambda: stored
    assert not queue.admit("u0")  # "early" came first, though it has not asked yet
    assert queue.order()[0] == "early"
    queue.enqueue("early", queued_at=T0 - timedelta(minutes=1), key="ns/early")
    assert queue.admit("early")
    assert queue.order() == ["u0", "u1"]


def test_a_reused_order_follows_every_change_made_here_and_the_watch_within_its_ttl() -> None:
    now = [0.0]
    stored: list[tuple[str, datetime, str]] = []
    calls = [0]

    def queued() -> list[tuple[str, datetime, str]]:
        calls[0] += 1
        return list(stored)

    queue = TrainingQueue(limit=1, queued=queued, order_ttl=1.0, clock=lambda: now[0])
    for i in range(3):
        queue.enqueue(f"u{i}", queued_at=T0 + timedelta(seconds=10 + i), key=f"ns/m{i}")
    assert [queue.position(f"u{i}") for i in range(3)] == [1, 2, 3]
    assert calls[0] == 1  # one sort for three positions
    # A change made here is seen at once.
    assert queue.admit("u0")
    assert [queue.position("u1"), queue.position("u2")] == [1, 2]
    queue.enqueue("u9", queued_at=T0, key="ns/m9")  # queued before everyone
    assert queue.position("u9") == 1
    assert queue.position("u1") == 2
    # Another process's queued run (the watch's view) counts once the order is a second old.
    stored.append(("other", T0 - timedelta(seconds=1), "ns/other"))
    assert queue.position("u9") == 1
    now[0] = 1.5
    assert queue.position("u9") == 2
    assert queue.release("u0") == ["other"]


def test_runs_queued_one_by_one_go_into_the_kept_order_without_a_sort_each() -> None:
    """A thousand models queued together: each takes its place in the kept order (no sort of
    the whole queue and no read of the watch's view per model), and every position is the one
    a full sort gives."""

    rng = random.Random(7)
    calls = [0]

    def queued() -> list[tuple[str, datetime, str]]:
        calls[0] += 1
        return [("stored", T0 + timedelta(seconds=500), "ns/stored")]

    queue = TrainingQueue(limit=1, queued=queued, order_ttl=1.0, clock=lambda: 0.0)
    arrivals = [
        (f"u{i}", T0 + timedelta(seconds=rng.randrange(1000)), f"ns/m{i}") for i in range(300)
    ]
    for uid, at, key in arrivals:
        queue.enqueue(uid, queued_at=at, key=key)
        assert queue.position(uid) is not None
    assert calls[0] == 1
    expected = sorted(
        [*arrivals, ("stored", T0 + timedelta(seconds=500), "ns/stored")],
        key=lambda a: (a[1], a[2], a[0]),
    )
    assert queue.order() == [uid for uid, _at, _key in expected]
    assert [queue.position(uid) for uid, _at, _key in arrivals] == [
        1 + [e[0] for e in expected].index(uid) for uid, _at, _key in arrivals
    ]


def test_a_queued_position_is_rewritten_near_the_head_or_once_it_moved_by_a_tenth() -> None:
    def worth(written: int | None, current: int | None, seconds: float = 120.0) -> bool:
        return training_queue.position_worth_writing(
            written, current, limit=2, seconds_since=seconds, refresh=60.0
        )

    assert worth(None, 700, seconds=0.0)  # the first position is always shown
    assert not worth(700, 700)
    assert worth(6, 4, seconds=0.0)  # within two rounds of the limit: at once
    assert not worth(700, 650, seconds=30.0)  # moved a lot, but written half a minute ago
    assert not worth(700, 640)  # a minute later, still less than a tenth
    assert worth(700, 630)
    assert worth(20, 18)
    assert worth(700, None)  # no longer waiting

"""Which copy of an object a look starts from, when the watch runs behind our own writes."""

from __future__ import annotations

from typing import Any

from pace.handlers.reconciler import Snapshots


def obj(rv: str, phase: str = "", **meta: Any) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": rv, **meta}, "status": {"phase": phase}}


def test_a_watch_two_writes_behind_still_gets_the_latest_write() -> None:
    snaps = Snapshots()
    first = snaps.take(obj("1"))
    assert first["metadata"]["resourceVersion"] == "1"
    snaps.wrote(first, obj("2", "Pending"), set())
    # The watch has not delivered our write: the look starts from what the write returned.
    second = snaps.take(obj("1"))
    assert second["metadata"]["resourceVersion"] == "2"
    snaps.wrote(second, obj("3", "Running"), set())
    # Still at 1, or at our own first write (2): both are behind the write that returned 3.
    # (The first version of this loop compared with the last write's base only, started from
    # the stale live body here, and met a conflict on every object that moved twice.)
    assert snaps.take(obj("1"))["status"]["phase"] == "Running"
    assert snaps.take(obj("2"))["status"]["phase"] == "Running"


def test_a_watch_that_caught_up_is_used_and_the_copy_dropped() -> None:
    snaps = Snapshots()
    snaps.wrote(obj("1"), obj("2", "Pending"), set())
    live = obj("2", "Pending")
    assert snaps.take(live) is live
    assert snaps.latest is None
    assert snaps.stale == set()
    # Past our write (someone else wrote after it): the live body, too.
    snaps.wrote(obj("2"), obj("3"), set())
    newer = obj("7", "Failed")
    assert snaps.take(newer) is newer


def test_a_version_passed_between_the_status_and_the_metadata_write_is_stale() -> None:
    snaps = Snapshots()
    snaps.wrote(obj("1"), obj("3", "Pending"), {"2", "3"})
    assert snaps.take(obj("2"))["metadata"]["resourceVersion"] == "3"
    # The returned version itself is where the watch catches up.
    assert "3" not in snaps.stale


def test_the_copy_kept_leaves_out_managed_fields() -> None:
    snaps = Snapshots()
    snaps.wrote(obj("1"), obj("2", managedFields=[{"manager": "x"}]), set())
    assert "managedFields" not in snaps.take(obj("1"))["metadata"]


def test_a_write_the_server_found_changed_nothing_leaves_nothing_behind() -> None:
    """The server answers a patch that changes nothing with the same resourceVersion: no echo
    is coming, so the live body at that version is not behind (wakes are not held for it)."""
    snaps = Snapshots()
    snaps.wrote(obj("4"), obj("4"), set())
    assert not snaps.behind(obj("4"))
    snaps.wrote(obj("4"), obj("5"), {"5"})
    assert snaps.behind(obj("4"))
    assert not snaps.behind(obj("5"))

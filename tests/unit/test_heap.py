"""Freed heap pages go back to the OS: what pace.adapters.heap does for the operator after a
wave of objects (glibc, as in the operator's image)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pace.adapters import heap


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_trim_hands_freed_pages_back_that_glibc_would_keep() -> None:
    # 200 MB of 4 KiB chunks (malloc, not Python's small-object allocator); every 16th kept,
    # so the heap's top never frees and glibc keeps the rest of the pages on its own.
    chunks = [bytearray(4096) for _ in range(50_000)]
    kept = chunks[::16]
    del chunks
    before = _rss_mb()
    assert heap.trim()
    after = _rss_mb()
    assert before - after > 100, (before, after)
    assert len(kept) == 3125


def test_arenas_can_be_limited() -> None:
    assert heap.limit_arenas()


def _in_child(code: str) -> None:
    """Run ``code`` in a child process (the operator's process settings, not pytest's)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_full_collections_come_every_hundred_middle_ones_and_start_up_is_frozen() -> None:
    _in_child(
        """
        import gc
        from pace.adapters import heap
        young, middle, _ = gc.get_threshold()
        heap.fewer_full_collections()
        every = heap.FULL_COLLECTION_EVERY
        assert gc.get_threshold() == (young, middle, every), gc.get_threshold()
        before = gc.get_freeze_count()
        heap.freeze_startup()
        assert gc.get_freeze_count() > before + 1000, (before, gc.get_freeze_count())
        """
    )


def test_held_full_collections_wait_until_let_go() -> None:
    """While held, a growing heap (the objects of a wave) gets no full collection; let go,
    it gets them again."""
    _in_child(
        """
        import gc
        from pace.adapters import heap
        full = []
        gc.callbacks.append(
            lambda phase, info: phase == "start" and info["generation"] == 2 and full.append(1)
        )
        kept = []
        def grow():
            for i in range(400_000):
                node = {"i": i}
                node["self"] = node
                if i % 4 == 0:
                    kept.append(node)
        heap.hold_full_collections(True)
        assert gc.get_threshold()[2] == heap.HELD_FULL_COLLECTION_EVERY
        grow()
        assert not full, len(full)
        heap.hold_full_collections(False, every=2)
        assert gc.get_threshold()[2] == 2
        grow()
        assert full
        """
    )

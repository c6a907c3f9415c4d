"""The operator's heap: fewer malloc arenas, freed memory handed back to the OS (glibc), and
fewer and shorter full garbage collections while the heap grows (start-up's objects frozen).

A thousand objects arriving together leave the heap much larger than what stays in use: the
watch bodies, responses and snapshots of that wave are freed, but glibc keeps the freed pages
(and one arena per thread that ever allocated). Measured with tests/bench/test_scale.py, the
Python objects still alive afterwards (tracemalloc) were well under half of the RSS. Both
calls are glibc's; elsewhere (musl, macOS) they do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from typing import Any

M_ARENA_MAX = -8  # mallopt parameter (glibc malloc.h)
ARENAS = 2
FULL_COLLECTION_EVERY = 100
"""Young-generation collections between two full ones (Python's default: 10). A thousand
objects arriving together grow the heap by a million long-lived objects; with the default,
the scale bench measured 12 full collections in its 40 s wave (4.6 s of the operator's CPU,
pauses up to 0.6 s that stall every reconcile); with 100, one (1.0 s). Python still skips a full
collection until the long-lived objects grew by a quarter."""
HELD_FULL_COLLECTION_EVERY = 1_000_000
"""While full collections are held (`hold_full_collections`): none in practice."""


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """At most ``arenas`` malloc arenas (glibc's default is 8 per core, one per thread that
    allocates: worker threads each keep their own freed pages). Call before threads start."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas) == 1)


def trim() -> bool:
    """Hand the heap's free pages back to the OS (``malloc_trim(0)``); whether any were."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


def fewer_full_collections(every: int = FULL_COLLECTION_EVERY) -> None:
    """Keep the first two generations' thresholds and run a full collection only after
    ``every`` collections of the middle one."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, every)


def hold_full_collections(held: bool, every: int = FULL_COLLECTION_EVERY) -> None:
    """Hold full collections back (``held``), or let them come every ``every`` middle ones
    again. The operator holds them while a wave of objects waits for its first looks: the
    one or two a wave still needs each stalled every reconcile for about half a second (the
    scale bench's slowest first statuses). Young and middle collections go on; the garbage a
    full one would find waits, and the first full collection after the hold takes it."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, HELD_FULL_COLLECTION_EVERY if held else every)


def freeze_startup() -> None:
    """Move what start-up made (modules, classes, the client libraries' tables: permanent
    anyway) out of the collector's reach, after collecting start-up's garbage: every later
    full collection then walks only what the operator made since."""
    gc.collect()
    gc.freeze()

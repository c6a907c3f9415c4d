"""The operator's heap: fewer malloc arenas, and freed memory handed back to the OS (glibc).

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
from typing import Any

M_ARENA_MAX = -8  # mallopt parameter (glibc malloc.h)
ARENAS = 2


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

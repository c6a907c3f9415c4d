"""JSON merge patches (RFC 7386), applied in memory (pure).

The reconcilers build one merge patch per move; `apply` tells them what the object would look
like once the API server applies it, so a patch that changes nothing is never sent, and the
object after a write is known before the watch delivers it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def apply(target: Any, patch: Any) -> Any:
    """``target`` with ``patch`` merged in; None in the patch removes a key. Inputs unchanged."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply(result.get(key), value)
    return result


def changes(target: Mapping[str, Any], patch: Mapping[str, Any]) -> bool:
    """Whether applying ``patch`` would change ``target``."""
    return bool(patch) and apply(target, patch) != target


def strip_noops(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``patch`` that changes ``target`` (keys whose merge is a no-op dropped)."""
    result: dict[str, Any] = {}
    for key, value in patch.items():
        current = target.get(key) if isinstance(target, Mapping) else None
        if value is None:
            if isinstance(target, Mapping) and key in target:
                result[key] = None
        elif isinstance(value, Mapping) and isinstance(current, Mapping):
            inner = strip_noops(current, value)
            if inner:
                result[key] = inner
        elif apply(current, value) != current:
            result[key] = value
    return result


def compose(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """One patch doing ``first`` then ``second``: ``apply(apply(t, first), second)`` equals
    ``apply(t, compose(first, second))`` whenever a key keeps its kind (object or not), as
    status fields do. Inputs unchanged."""
    result: dict[str, Any] = dict(first)
    for key, value in second.items():
        earlier = result.get(key)
        if isinstance(value, Mapping) and isinstance(earlier, Mapping):
            result[key] = compose(earlier, value)
        else:
            result[key] = copy.deepcopy(value)
    return result

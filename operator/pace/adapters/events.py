"""Kubernetes events that say the same thing as the conditions they accompany.

A thin layer over kopf's event posting (queued, sent by kopf's poster task). Inside a
reconcile, events are held back (`deferred`) and posted only once the status write that
records the same transition has succeeded: a decision that loses a write conflict and is made
again never posts its event twice.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from typing import Any

import kopf

from pace.api.conditions import Condition, ConditionType

# Condition types for which status True is bad news.
_NEGATIVE_POLARITY = {str(ConditionType.DRIFT_DETECTED)}

Pending = list[tuple[Any, str, str, str]]  # (body, type, reason, message)
_held: contextvars.ContextVar[Pending | None] = contextvars.ContextVar("held", default=None)


def is_warning(cond: Condition) -> bool:
    """Whether a condition transition deserves a Warning event rather than Normal."""
    bad = "True" if cond.type in _NEGATIVE_POLARITY else "False"
    return cond.status == bad


def post(body: Any, *, type: str, reason: str, message: str) -> None:
    """One event about ``body`` (held back inside `deferred`)."""
    held = _held.get()
    if held is not None:
        held.append((body, type, reason, message[:1024]))
    else:
        kopf.event(body, type=type, reason=reason, message=message[:1024])


def info(body: Any, *, reason: str, message: str) -> None:
    post(body, type="Normal", reason=reason, message=message)


def warn(body: Any, *, reason: str, message: str) -> None:
    post(body, type="Warning", reason=reason, message=message)


def post_transitions(body: Any, changed: Iterable[Condition]) -> None:
    """One event per changed condition, reason and message copied from the condition."""
    for cond in changed:
        post(
            body,
            type="Warning" if is_warning(cond) else "Normal",
            reason=cond.reason,
            message=f"{cond.type}={cond.status}: {cond.message}",
        )


@contextlib.contextmanager
def deferred() -> Iterator[Pending]:
    """Hold events posted inside; the caller posts them with `flush` once its write landed."""
    held: Pending = []
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)


def flush(held: Pending) -> None:
    """Post held events."""
    for body, type_, reason, message in held:
        kopf.event(body, type=type_, reason=reason, message=message)
    held.clear()

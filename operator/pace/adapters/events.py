"""Kubernetes events that say the same thing as the conditions they accompany.

A thin layer over kopf's event posting (queued, sent by kopf's poster task).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kopf

from pace.api.conditions import Condition, ConditionType

# Condition types for which status True is bad news.
_NEGATIVE_POLARITY = {str(ConditionType.DRIFT_DETECTED)}


def is_warning(cond: Condition) -> bool:
    """Whether a condition transition deserves a Warning event rather than Normal."""
    bad = "True" if cond.type in _NEGATIVE_POLARITY else "False"
    return cond.status == bad


def post_transitions(body: Any, changed: Iterable[Condition]) -> None:
    """One event per changed condition, reason and message copied from the condition."""
    for cond in changed:
        kopf.event(
            body,
            type="Warning" if is_warning(cond) else "Normal",
            reason=cond.reason,
            message=f"{cond.type}={cond.status}: {cond.message}"[:1024],
        )

"""Recording an MLModel's audit events from its handlers.

Handlers call `append_for_model` before they put the state change into their status patch: if
the store refuses, the handler fails and retries with nothing half-recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import kopf

from pace import audit_log
from pace.api.mlmodel import MLModel
from pace.core import audit


async def append_for_model(
    memo: Any,
    model: MLModel,
    patch: kopf.Patch,
    events: Sequence[audit.AuditEvent],
    *,
    now: datetime,
) -> None:
    """Record the MLModel's own events and advance status.auditSequence in the patch."""
    if memo.store is None or not events:
        return
    first = int(patch.status.get("auditSequence", model.status.audit_sequence))
    patch.status["auditSequence"] = await asyncio.to_thread(
        audit_log.write_events,
        memo.store,
        namespace=model.namespace,
        model=model.name,
        source=audit.model_source(model.uid),
        first_seq=first,
        events=events,
        now=now,
    )
    notifier = getattr(memo, "notifier", None)
    if notifier is not None:
        notifier.wake(model.namespace, model.name)

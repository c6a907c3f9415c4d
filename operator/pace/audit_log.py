"""The audit log in the object store: append events write-once, read a model's history.

Used by the operator's handlers (through pace.handlers.auditing) and by `pace history`. A key
written before a restart is found again (write-once) and kept, so a retried step never records
twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pace.adapters.object_store import ObjectStore, WriteOnceError
from pace.core import audit


def write_events(
    store: ObjectStore,
    *,
    namespace: str,
    model: str,
    source: str,
    first_seq: int,
    events: Sequence[audit.AuditEvent],
    now: datetime,
) -> int:
    """Write events numbered from ``first_seq``; return the next number."""
    for offset, event in enumerate(events):
        seq = first_seq + offset
        key = audit.key(namespace, model, source=source, seq=seq, type_=event.type)
        body = audit.record(
            event, namespace=namespace, model=model, source=source, seq=seq, time=now
        )
        try:
            store.put_json(key, body, once=True)
        except WriteOnceError:
            continue  # recorded before a restart; the status counter had not moved yet
    return first_seq + len(events)


def read_history(store: ObjectStore, namespace: str, model: str) -> list[dict[str, Any]]:
    """Every recorded event of a model, oldest first."""
    keys = [k for k in store.list(audit.model_prefix(namespace, model)) if k.endswith(".json")]
    return audit.ordered(store.get_json(k) for k in keys)

"""Delivering each MLModel's audit events to its webhooks (``spec.notifications``).

One delivery task per model with webhooks, beside (never inside) its reconcile: a slow or
failing webhook holds only its own task. The MLModel reconcile registers the model each pass
(`Notifier.update`) and shows the outcome as the ``Notified`` condition; appending audit
events wakes the task (`Notifier.wake`), and it looks again every minute anyway (a
RetrainPolicy's events). Per webhook, the pending events (`pace.core.notifications.pending`)
go out oldest first; the cursor, kept in the store, moves after each success. A failure is
retried with backoff (2 s doubling to 5 min), counted in
``pace_notifications_failed_total``, and named in the condition; the loop never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pace.adapters import metrics, webhooks
from pace.adapters.object_store import ObjectStoreError
from pace.api import constants
from pace.api.mlmodel import MLModel, Webhook
from pace.core import audit, notifications

log = logging.getLogger(__name__)

IDLE_SECONDS = 60.0

Key = tuple[str, str]  # namespace, name


@dataclass
class Delivery:
    """How one webhook of one model is doing (read by the reconcile for the condition)."""

    delivered: int = 0
    failures: int = 0
    error: str | None = None
    retry_at: float = 0.0  # monotonic


@dataclass
class _Model:
    model: MLModel
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # audit key -> record


class Notifier:
    def __init__(self, memo: Any) -> None:
        self.memo = memo
        self.models: dict[Key, _Model] = {}

    def update(self, model: MLModel) -> dict[str, Delivery]:
        """Register (or forget) the model as its spec says; how its webhooks are doing."""
        key = (model.namespace, model.name)
        if not model.spec.notifications.webhooks or self.memo.store is None:
            self.forget(key)
            return {}
        entry = self.models.get(key)
        if entry is None or entry.model.uid != model.uid:
            self.forget(key)
            entry = self.models[key] = _Model(model)
        entry.model = model
        names = {w.name for w in model.spec.notifications.webhooks}
        entry.deliveries = {n: d for n, d in entry.deliveries.items() if n in names}
        if entry.task is None or entry.task.done():
            entry.task = asyncio.get_running_loop().create_task(self._run(key, entry))
        return dict(entry.deliveries)

    def wake(self, namespace: str, name: str) -> None:
        entry = self.models.get((namespace, name))
        if entry is not None:
            entry.wake.set()

    def forget(self, key: Key) -> None:
        entry = self.models.pop(key, None)
        if entry is not None and entry.task is not None:
            entry.task.cancel()

    async def _run(self, key: Key, entry: _Model) -> None:
        while self.models.get(key) is entry:
            entry.wake.clear()
            changed = False
            for webhook in entry.model.spec.notifications.webhooks:
                state = entry.deliveries.setdefault(webhook.name, Delivery())
                if time.monotonic() < state.retry_at:
                    continue
                before = (state.error, state.delivered)
                try:
                    state.delivered += await self._deliver(entry, webhook)
                    state.failures, state.error, state.retry_at = 0, None, 0.0
                except (webhooks.DeliveryError, ObjectStoreError, OSError) as exc:
                    state.failures += 1
                    state.error = str(exc)[:300]
                    state.retry_at = time.monotonic() + notifications.retry_delay(state.failures)
                    metrics.NOTIFICATIONS_FAILED.labels(*key, webhook.name).inc()
                    log.warning(
                        "notification to webhook %s of %s/%s failed (%d in a row): %s",
                        webhook.name,
                        *key,
                        state.failures,
                        state.error,
                    )
                changed |= before != (state.error, state.delivered) and (
                    state.error is not None or before[0] is not None
                )
            if changed:  # the Notified condition has news
                self.memo.wakers.wake((constants.MLMODEL_PLURAL, *key))
            waits = [d.retry_at - time.monotonic() for d in entry.deliveries.values() if d.error]
            timeout = max(0.5, min([IDLE_SECONDS, *waits]))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(entry.wake.wait(), timeout=timeout)

    async def _deliver(self, entry: _Model, webhook: Webhook) -> int:
        """Send what is pending for one webhook, in order; the number sent."""
        model, store = entry.model, self.memo.store
        cursor_key = notifications.cursor_key(model.namespace, model.name, model.uid, webhook.name)
        cursor: dict[str, int] = await asyncio.to_thread(_read_cursor, store, cursor_key)
        records = await asyncio.to_thread(_read_records, store, entry)
        created = model.created
        mine = [r for r in records if notifications.belongs(r, uid=model.uid, created=created)]
        todo = notifications.pending(mine, cursor, webhook)
        if not todo:
            return 0
        key = await self._signing_key(model, webhook)
        sent = 0
        for record in todo:
            if not record["skip"]:
                payload = notifications.body(record, webhook.format)
                headers = notifications.headers(
                    record, payload, key=key, timestamp=int(datetime.now(UTC).timestamp())
                )
                await webhooks.post(webhook.url, payload, headers)
                metrics.NOTIFICATIONS_SENT.labels(model.namespace, model.name, webhook.name).inc()
                sent += 1
            cursor = notifications.advanced(cursor, record)
            await asyncio.to_thread(store.put_json, cursor_key, cursor)
        return sent

    async def _signing_key(self, model: MLModel, webhook: Webhook) -> str | None:
        if webhook.signing_key is None:
            return None
        name = self.memo.config.notifications_secret
        try:
            data = await asyncio.to_thread(self.memo.kube.read_secret, model.namespace, name)
        except Exception as exc:  # no such Secret, or not allowed: named, retried
            raise webhooks.DeliveryError(
                f"signing key {webhook.signing_key!r}: Secret {model.namespace}/{name} could "
                f"not be read ({type(exc).__name__})"
            ) from None
        value = data.get(webhook.signing_key)
        if not value:
            raise webhooks.DeliveryError(
                f"signing key {webhook.signing_key!r} is not in Secret {model.namespace}/{name}"
            )
        return str(value)


def _read_cursor(store: Any, key: str) -> dict[str, int]:
    if not store.exists(key):
        return {}
    return {str(k): int(v) for k, v in store.get_json(key).items()}


def _read_records(store: Any, entry: _Model) -> list[dict[str, Any]]:
    """The model's audit records (each read once: they are write-once)."""
    prefix = audit.model_prefix(entry.model.namespace, entry.model.name)
    for key in store.list(prefix):
        if key.endswith(".json") and key not in entry.records:
            entry.records[key] = store.get_json(key)
    return list(entry.records.values())

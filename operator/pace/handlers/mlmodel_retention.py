"""The MLModel's retention step: expire its inference log in the bucket.

Called by `pace.handlers.mlmodel.reconcile` once per sweep interval
(`pace.core.log_retention`): deletes the model's logged requests, responses and labels older
than what it keeps (`pace.adapters.inference_log.expire`: whole day partitions, then the older
batches of the cut-off day) in a worker thread. It writes nothing to the object's status; the
deletions are counted in ``pace_inference_log_expired_batches_total`` and logged. A store that
fails is tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from typing import Any

import kopf

from pace.adapters import inference_log, metrics
from pace.api.mlmodel import MLModel
from pace.core import inference_records, log_retention
from pace.handlers import mlmodel_drift
from pace.handlers.reconciler import Context

NEXT_SWEEP = "log-sweep-due"  # Context.scratch key: when the model's log is swept next


def _keep(model: MLModel, ctx: Context) -> float:
    return log_retention.keep_seconds(model.spec, mlmodel_drift.monitors_of(model, ctx.indexes))


def seconds_until_due(model: MLModel, ctx: Context, *, now: datetime) -> float | None:
    """Seconds until the next sweep (None without an object store). The first sweep after the
    operator starts comes at a random point of the first interval, so a thousand models do
    not all list the bucket at once."""
    if ctx.memo.store is None:
        return None
    due: datetime | None = ctx.scratch.get(NEXT_SWEEP)
    if due is None:
        interval = log_retention.sweep_interval(_keep(model, ctx))
        due = now + timedelta(seconds=random.uniform(0, interval))
        ctx.scratch[NEXT_SWEEP] = due
    return max(0.0, (due - now).total_seconds())


async def sweep(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """Delete the expired part of the model's inference log when a sweep is due."""
    due = seconds_until_due(model, ctx, now=now)
    if due is None or due > 0:
        return
    keep = _keep(model, ctx)
    ctx.scratch[NEXT_SWEEP] = now + timedelta(seconds=log_retention.sweep_interval(keep))
    before_ms = int((now.timestamp() - keep) * 1000)
    prefix = inference_records.model_prefix(model.namespace, model.name)
    try:
        removed = await asyncio.to_thread(
            inference_log.expire, ctx.memo.store, prefix, before_ms=before_ms
        )
    except Exception as exc:  # the store is down: try at the next interval
        ctx.logger.warning(f"expiring the inference log of {model.namespace}/{model.name}: {exc}")
        return
    if removed:
        metrics.LOG_EXPIRED.labels(model.namespace, model.name).inc(removed)
        ctx.logger.info(
            f"expired {removed} inference-log batches of {model.namespace}/{model.name} "
            f"older than {keep:.0f}s"
        )

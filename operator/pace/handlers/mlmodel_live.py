"""The MLModel's live-quality step: each serving version's metrics on labelled live traffic.

Called by `pace.handlers.mlmodel.reconcile` every ``spec.liveQuality.interval`` while a
version serves: reads the window's logged responses and labels from the object store
(`pace.adapters.inference_log`), joins and scores them in a worker thread
(`pace.core.live_quality`), sets the ``pace_live_*`` gauges, and writes
``status.versions[].live`` and ``status.liveQuality`` only when a figure changed (a
measurement that finds nothing new writes nothing).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import kopf

from pace.adapters import inference_log, metrics
from pace.adapters.object_store import ObjectStore
from pace.api.mlmodel import (
    ConfidenceInterval,
    LiveLabels,
    LiveMetrics,
    MLModel,
    VersionRecord,
)
from pace.core import durations, live_quality
from pace.handlers.reconciler import Context

MEASURED = "live-measured-at"  # Context.scratch key: when the model was last measured
GAUGES = "live-gauges"  # Context.scratch key: the gauge label sets last set


def seconds_until_due(model: MLModel, ctx: Context, *, now: datetime) -> float | None:
    """Seconds until the next measurement (None when nothing serves)."""
    if ctx.memo.store is None or model.status.serving_version is None:
        return None
    last: datetime | None = ctx.scratch.get(MEASURED)
    if last is None:
        return 0.0
    interval = durations.seconds(model.spec.live_quality.interval)
    return max(0.0, interval - (now - last).total_seconds())


async def measure(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """Measure when due; write what changed."""
    due = seconds_until_due(model, ctx, now=now)
    if due is None or due > 0:
        return
    ctx.scratch[MEASURED] = now
    store: ObjectStore = ctx.memo.store
    window = model.spec.live_quality.window
    since_ms = int((now.timestamp() - durations.seconds(window)) * 1000)
    try:
        outcome = await asyncio.to_thread(_measure, store, model, since_ms, now.timestamp())
    except Exception as exc:  # the store is down or a batch unreadable: try next interval
        ctx.logger.warning(f"live quality of {model.namespace}/{model.name}: {exc}")
        return
    _set_gauges(model, outcome, ctx)
    versions = [_with_live(v, outcome, window=window, now=now) for v in model.status.versions]
    labels = _labels(model, outcome, now=now)
    if versions != model.status.versions:
        patch.status["versions"] = [v.to_k8s() for v in versions]
    if _counts(labels) != _counts(model.status.live_quality):
        patch.status["liveQuality"] = labels.to_patch()


def _measure(store: ObjectStore, model: MLModel, since_ms: int, now: float) -> Any:
    responses, labels = inference_log.window(store, model.namespace, model.name, since_ms=since_ms)
    return live_quality.measure(model.spec.task, responses, labels, now=now)


def _with_live(
    version: VersionRecord, outcome: live_quality.Outcome, *, window: str, now: datetime
) -> VersionRecord:
    found = outcome.versions.get(version.version)
    if found is None:
        return version  # nothing labelled in this window: keep its last figures
    interval = found.interval
    live = LiveMetrics(
        metrics={k: round(v, 6) for k, v in found.metrics.items()},
        rows=found.rows,
        window=window,
        interval=ConfidenceInterval(
            metric=interval.metric, low=round(interval.low, 6), high=round(interval.high, 6)
        )
        if interval
        else None,
        updated_at=now,
    )
    old = version.live
    if old is not None and old.model_copy(update={"updated_at": now}) == live:
        return version
    return version.model_copy(update={"live": live})


def _labels(model: MLModel, outcome: live_quality.Outcome, *, now: datetime) -> LiveLabels:
    serving = outcome.versions.get(model.status.serving_version or "")
    summary = None
    if serving is not None:
        name, value = next(iter(serving.metrics.items()))
        summary = f"{name} {value:.3f} n={serving.rows} ({serving.version})"
    return LiveLabels(
        summary=summary,
        labels=outcome.labels,
        duplicates=outcome.duplicates,
        unmatched=outcome.unmatched,
        pending=outcome.pending,
        measured_at=now,
    )


def _counts(labels: LiveLabels | None) -> tuple[Any, ...] | None:
    if labels is None:
        return None
    return (labels.summary, labels.labels, labels.duplicates, labels.unmatched, labels.pending)


def _set_gauges(model: MLModel, outcome: live_quality.Outcome, ctx: Context) -> None:
    roles = {model.status.serving_version: "main", model.status.candidate_version: "canary"}
    ns, name = model.namespace, model.name
    current: set[tuple[str, ...]] = set()
    for version, found in outcome.versions.items():
        predictor = roles.get(version) or "none"
        for metric, value in found.metrics.items():
            metrics.LIVE_METRIC.labels(ns, name, version, predictor, metric).set(value)
            current.add(("metric", version, predictor, metric))
        metrics.LIVE_LABELLED_ROWS.labels(ns, name, version, predictor).set(found.rows)
        current.add(("rows", version, predictor))
    for gate in model.spec.quality_gates.metrics:  # beside the live figures they bound
        for bound, limit in (("min", gate.min), ("max", gate.max)):
            if limit is not None:
                metrics.QUALITY_GATE.labels(ns, name, gate.metric, bound).set(limit)
                current.add(("gate", gate.metric, bound))
    for old in ctx.scratch.get(GAUGES, set()) - current:
        if old[0] == "metric":
            metrics.LIVE_METRIC.remove(ns, name, *old[1:])
        elif old[0] == "gate":
            metrics.QUALITY_GATE.remove(ns, name, *old[1:])
        else:
            metrics.LIVE_LABELLED_ROWS.remove(ns, name, *old[1:])
    ctx.scratch[GAUGES] = current
    joined = sum(v.rows for v in outcome.versions.values())
    for state, count in (
        ("joined", joined),
        ("duplicate", outcome.duplicates),
        ("unmatched", outcome.unmatched),
        ("pending", outcome.pending),
    ):
        metrics.LIVE_LABELS.labels(ns, name, state).set(count)

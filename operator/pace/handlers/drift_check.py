"""The DriftMonitor's check step: on each interval read the newest window of the inference
log and the reference of the serving version, run the detector in a worker thread, and report
status, gauges and an event when the verdict changes. A feature the detector gives no finite
statistic for (NaN in its values) is named in the condition (reason DetectorError unless the
other features show drift) with a Warning event, and kept out of the status and gauges.

Called by `pace.handlers.drift_monitor.reconcile`; the model comes from kopf's index.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime
from typing import Any

import kopf
import pydantic

from pace.adapters import events, inference_log, metrics
from pace.adapters.object_store import ObjectStore
from pace.api import constants
from pace.api.conditions import ConditionType, Status
from pace.api.drift_monitor import DriftMonitor
from pace.api.mlmodel import MLModel
from pace.core import drift, durations, inference_records, status
from pace.handlers import indexes, reporting, stores
from pace.handlers.reconciler import Context

KIND = constants.DRIFT_MONITOR_KIND


def read_window(store: ObjectStore, prefix: str, *, rows: int | None, since_ms: int | None) -> Any:
    """The newest logged request rows under a prefix (features only): those since
    ``since_ms``, or the newest ``rows``; only the day partitions the window reaches are
    listed and read."""
    import pandas as pd

    if since_ms is not None:
        keys = inference_log.batches_since(store, prefix, "requests", since_ms=since_ms)
        window = inference_log.read(store, keys)
    else:
        window = inference_log.read_newest(store, prefix, "requests", rows=rows)
    if window.empty:
        return pd.DataFrame()
    window = window.sort_values("_ts", kind="stable")
    if rows is not None:
        window = window.tail(rows)
    return window.drop(columns=[c for c in window.columns if c.startswith("_")]).reset_index(
        drop=True
    )


def read_reference(store: ObjectStore, key: str, meta_key: str | None) -> tuple[Any, list[str]]:
    import pandas as pd

    frame = pd.read_parquet(io.BytesIO(store.get(key)))
    categorical: list[str] = []
    if meta_key and store.exists(meta_key):
        categorical = list(json.loads(store.get(meta_key)).get("categorical", []))
    return frame, categorical


def seconds_until_due(monitor: DriftMonitor, *, now: datetime) -> float:
    """Seconds until the monitor's next check (0 when due)."""
    last = monitor.status.last_check
    if last is None:
        return 0.0
    return max(0.0, durations.seconds(monitor.spec.interval) - (now - last).total_seconds())


async def check(
    monitor: DriftMonitor, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> float | None:
    """One drift check, when the monitor's interval has passed. Returns the seconds until the
    next one is due (None: nothing to check until the model serves, which wakes the monitor;
    a monitor without a reference keeps no timer, due or not)."""
    memo = ctx.memo
    spec, current = monitor.spec, monitor.status
    if memo.store is None:
        return None
    gen = monitor.generation

    def verdict(
        state: Status, reason: str, message: str, *, warn: bool = False, **fields: Any
    ) -> None:
        """Write the check's condition and fields; ``warn``: a Warning event when the message
        is new (a check that keeps failing the same way posts it once)."""
        patch.status["lastCheck"] = now.isoformat()
        for key, value in fields.items():
            patch.status[key] = value
        shown = status.find(current.conditions, ConditionType.DRIFT_DETECTED)
        reporting.report(
            kind=KIND,
            body=body,
            patch=patch,
            before=current.conditions,
            updates=[
                status.condition(
                    ConditionType.DRIFT_DETECTED, state, reason, message, generation=gen, now=now
                )
            ],
            generation=gen,
            post_events=not warn,
        )
        if warn and (shown is None or (shown.reason, shown.message) != (reason, message)):
            events.warn(body, reason=reason, message=f"DriftDetected={state}: {message}")

    raw_model = indexes.one(ctx.indexes, indexes.MLMODELS, (monitor.namespace, spec.model_ref.name))
    try:
        model = MLModel.from_body(raw_model) if raw_model else None
    except pydantic.ValidationError:
        model = None
    location = drift.reference_location(
        uri=spec.reference.uri,
        namespace=monitor.namespace,
        model=spec.model_ref.name,
        serving_version=model.status.serving_version if model else None,
        model_uid=model.uid if model else "",
    )
    if location is None:
        # Whether due or not: no timer while there is nothing to check.
        old = status.find(current.conditions, ConditionType.DRIFT_DETECTED)
        if old is None or old.reason != "NoReference":
            verdict("Unknown", "NoReference", "The model has no serving version yet.")
        return None  # nothing to check until the model serves (it wakes us then)
    wait = seconds_until_due(monitor, now=now)
    if wait > 0:
        return max(1.0, wait)
    ref_store, ref_key = stores.for_uri(location.uri, memo, namespace=monitor.namespace)
    meta_key, version = location.meta_key, location.version
    ref_key = ref_key or location.key
    src_store, prefix = stores.for_uri(spec.source.uri, memo, namespace=monitor.namespace)
    prefix = prefix or inference_records.model_prefix(monitor.namespace, spec.model_ref.name)
    window_spec = spec.source.window
    since = (
        int((now.timestamp() - durations.seconds(window_spec.duration)) * 1000)
        if window_spec.duration
        else None
    )
    window = await asyncio.to_thread(
        read_window, src_store, prefix, rows=window_spec.rows, since_ms=since
    )
    if len(window) < spec.source.min_rows:
        verdict(
            "Unknown",
            "NotEnoughData",
            drift.not_enough_rows(
                len(window),
                min_rows=spec.source.min_rows,
                window_rows=window_spec.rows,
                window_duration=window_spec.duration,
            ),
            windowRows=len(window),
            referenceVersion=version,
        )
        return durations.seconds(spec.interval)
    reference, categorical = await asyncio.to_thread(read_reference, ref_store, ref_key, meta_key)
    try:
        report = await asyncio.to_thread(
            drift.detect, reference, window, spec.detector, categorical=categorical
        )
    except (drift.DetectorUnavailable, ValueError) as exc:
        verdict(
            "Unknown",
            "DetectorUnavailable"
            if isinstance(exc, drift.DetectorUnavailable)
            else "WindowMismatch",
            str(exc),
            windowRows=len(window),
        )
        return durations.seconds(spec.interval)
    result = drift.verdict(report, reference_version=version)
    export(monitor, report, judged=result.status != "Unknown")
    verdict(
        result.status,
        result.reason,
        result.message,
        warn=result.reason == drift.DETECTOR_ERROR,
        **result.fields,
    )
    return durations.seconds(spec.interval)


def export(monitor: DriftMonitor, report: drift.DriftReport, *, judged: bool) -> None:
    """The check's gauges: finite numbers only. An untested feature's series are removed
    (a stale p-value would still look like an answer); the verdict's gauges move only when
    the check judged."""
    ns, name = monitor.namespace, monitor.name
    if judged:
        metrics.DRIFT_DETECTED.labels(namespace=ns, monitor=name).set(1 if report.drift else 0)
        metrics.DRIFT_SHARE.labels(namespace=ns, monitor=name).set(report.share_drifted)
    for feature in report.features:
        metrics.DRIFT_P_VALUE.labels(ns, name, feature.name).set(feature.p_value)
        metrics.DRIFT_DISTANCE.labels(ns, name, feature.name).set(feature.distance)
    for feature_name in report.untested:
        metrics.DRIFT_P_VALUE.remove(ns, name, feature_name)
        metrics.DRIFT_DISTANCE.remove(ns, name, feature_name)

"""RetrainPolicy handlers: check the model and monitor references, and on a timer observe the
triggers and request a retrain of the MLModel when one fires.

Each tick observes (the DriftMonitor's newest check, the PromQL value, new rows under a prefix,
whether the model can take a retrain), lets `pace.core.triggers.evaluate` decide, and on firing
records the trigger in the audit log, puts a retrain request on the MLModel (see
pace.core.retrain_requests) and counts it in status. Counters, the drift streak, the metric
breach start and the new-data watermark live in status, so cooldown, streaks and concurrency
hold across operator restarts. The request id is ``<policy>#<count>``: a restart between the
request and the status patch asks again with the same id, which the MLModel takes once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import kopf
import pydantic

from pace import audit_log
from pace.adapters import metrics, prometheus_api
from pace.adapters.object_store import ObjectStore
from pace.api import constants
from pace.api.conditions import ConditionType
from pace.api.drift_monitor import DriftMonitor
from pace.api.mlmodel import MLModel
from pace.api.retrain_policy import RetrainPolicy
from pace.core import audit, datasets, retrain_requests, status, triggers
from pace.handlers import reporting, stores

KIND = constants.RETRAIN_POLICY_KIND
TICK_SECONDS = 3.0


def references(body: Any) -> list[tuple[str, str, str, str]]:
    """The MLModel to retrain and, with a drift trigger, its DriftMonitor."""
    policy = RetrainPolicy.from_body(body)
    refs = [
        (
            constants.MLMODEL_PLURAL,
            constants.MLMODEL_KIND,
            policy.spec.model_ref.name,
            "spec.modelRef",
        )
    ]
    if policy.spec.triggers.drift is not None:
        refs.append(
            (
                constants.DRIFT_MONITOR_PLURAL,
                constants.DRIFT_MONITOR_KIND,
                policy.spec.triggers.drift.monitor_ref.name,
                "spec.triggers.drift.monitorRef",
            )
        )
    return refs


reporting.watch_references(
    plural=constants.RETRAIN_POLICY_PLURAL,
    kind=KIND,
    refs=references,
    ready_message="Policy is armed.",
)


@dataclass
class Observed:
    """What one tick saw, and the status fields it moves whatever the decision."""

    seen: triggers.Observations
    fields: dict[str, Any] = field(default_factory=dict)


async def observe_drift(policy: RetrainPolicy, memo: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Observations fields, status fields) from the monitor's newest check, counted once."""
    trigger = policy.spec.triggers.drift
    if trigger is None:
        return {}, {}
    raw = await memo.kube.aget_object(
        constants.DRIFT_MONITOR_PLURAL, policy.namespace, trigger.monitor_ref.name
    )
    if raw is None:
        return {}, {}
    monitor = DriftMonitor.from_body(raw)
    checked = monitor.status.last_check
    seen_before = policy.status.last_drift_check
    if checked is None or (seen_before is not None and checked <= seen_before):
        return {}, {}
    verdict = status.find(monitor.status.conditions, ConditionType.DRIFT_DETECTED)
    detected = None if verdict is None or verdict.status == "Unknown" else verdict.status == "True"
    return (
        {
            "drift_detected": detected,
            "share_drifted": monitor.status.share_drifted,
            "drift_check_time": checked,
        },
        {"lastDriftCheck": checked.isoformat()},
    )


async def observe_metric(
    policy: RetrainPolicy, memo: Any, *, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The PromQL value and since when it has crossed the threshold."""
    trigger = policy.spec.triggers.metric
    if trigger is None or memo.prometheus is None:
        return {}, {}
    try:
        value = await memo.prometheus.aquery(trigger.query)
    except prometheus_api.PrometheusUnavailable:
        return {}, {}  # keep the breach start; the next tick asks again
    if value is None:
        return {}, {"metricBreachSince": None}
    crossed = (
        value > trigger.threshold if trigger.operator == "above" else value < trigger.threshold
    )
    since = (policy.status.metric_breach_since or now) if crossed else None
    return (
        {"metric_value": value, "metric_breach_since": since},
        {"metricBreachSince": since.isoformat() if since else None},
    )


def count_new_rows(store: ObjectStore, prefix: str, after: datetime) -> int:
    return sum(
        datasets.count_rows(key, store.get(key))
        for key, _modified in store.list_modified_after(prefix, after)
        if key.endswith((".csv", ".parquet"))
    )


async def observe_new_data(
    policy: RetrainPolicy, memo: Any, *, armed_at: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rows in objects written under the prefix since the watermark (creation or last firing)."""
    trigger = policy.spec.triggers.new_data
    if trigger is None:
        return {}, {}
    since = policy.status.new_data_since or armed_at
    store, prefix = stores.for_uri(trigger.prefix, memo)
    rows = await asyncio.to_thread(count_new_rows, store, prefix or "", since)
    fields = {} if policy.status.new_data_since else {"newDataSince": since.isoformat()}
    return {"new_rows": rows}, fields


async def observe(
    policy: RetrainPolicy,
    model: MLModel,
    body: Any,
    memo: Any,
    *,
    pending: str | None,
    now: datetime,
) -> Observed:
    armed_at = datetime.fromisoformat(body["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    run = model.status.training
    found: dict[str, Any] = {
        "armed_at": armed_at,
        "busy": triggers.model_busy(model.status, pending),
        "runs_in_flight": 1 if run is not None and run.state in ("Pending", "Running") else 0,
    }
    fields: dict[str, Any] = {}
    for part in (
        await observe_drift(policy, memo),
        await observe_metric(policy, memo, now=now),
        await observe_new_data(policy, memo, armed_at=armed_at),
    ):
        found.update(part[0])
        fields.update(part[1])
    return Observed(triggers.Observations(**found), fields)


def trigger_kind(reason: str) -> str:
    """schedule, drift, metric or newData: the word before the first colon."""
    return reason.split(":", 1)[0]


@kopf.timer(
    constants.GROUP,
    constants.VERSION,
    constants.RETRAIN_POLICY_PLURAL,
    interval=TICK_SECONDS,
    initial_delay=TICK_SECONDS,
)
@reporting.instrumented(KIND)
async def evaluate_policy(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Observe the triggers; request a retrain when one fires."""
    policy = RetrainPolicy.from_body(body)
    current = policy.status
    if memo.store is None or not status.is_true(current.conditions, ConditionType.READY):
        return
    raw_model = await memo.kube.aget_object(
        constants.MLMODEL_PLURAL, policy.namespace, policy.spec.model_ref.name
    )
    if raw_model is None:
        return
    try:
        model = MLModel.from_body(raw_model)
    except pydantic.ValidationError:
        return  # the MLModel reports its own invalid spec
    now = datetime.now(UTC)
    pending = (raw_model["metadata"].get("annotations") or {}).get(retrain_requests.ANNOTATION)
    if await follow_request(policy, model, body=body, patch=patch, memo=memo, pending=pending):
        return
    observed = await observe(policy, model, body, memo, pending=pending, now=now)
    decision = triggers.evaluate(policy.spec, current, observed.seen, now=now)
    for key, value in observed.fields.items():
        patch.status[key] = value
    patch.status["consecutiveDriftChecks"] = decision.consecutive_drift_checks
    if not decision.fire:
        if decision.reason != current.holding:
            patch.status["holding"] = decision.reason
        return
    await fire(
        policy, raw_model, model, decision.reason, body=body, patch=patch, memo=memo, now=now
    )


async def fire(
    policy: RetrainPolicy,
    raw_model: dict[str, Any],
    model: MLModel,
    reason: str,
    *,
    body: Any,
    patch: kopf.Patch,
    memo: Any,
    now: datetime,
) -> None:
    """Audit, request the run on the MLModel, then count the firing in status."""
    count = policy.status.trigger_count + 1
    request = retrain_requests.RetrainRequest(
        id=retrain_requests.policy_request_id(policy.name, count),
        reason=reason,
        auto_promote=policy.spec.auto_promote,
    )
    event = audit.retrain_triggered(
        policy=policy.name,
        reason=reason,
        request=request.id,
        serving=model.status.serving_version,
        auto_promote=policy.spec.auto_promote,
    )
    await asyncio.to_thread(
        audit_log.write_events,
        memo.store,
        namespace=model.namespace,
        model=model.name,
        source=audit.policy_source(policy.name),
        first_seq=count,
        events=[event],
        now=now,
    )
    await memo.kube.aannotate(
        constants.MLMODEL_PLURAL,
        model.namespace,
        model.name,
        {retrain_requests.ANNOTATION: request.encode()},
    )
    patch.status["lastTrigger"] = {
        "time": now.isoformat(),
        "reason": reason[:1024],
        "request": request.id,
        "run": None,
    }
    patch.status["triggerCount"] = count
    patch.status["holding"] = None
    if policy.spec.triggers.new_data is not None and trigger_kind(reason) == "newData":
        patch.status["newDataSince"] = now.isoformat()
    message = f"Retrain of {model.name} requested ({request.id}): {reason}"[:1024]
    kopf.info(body, reason="RetrainTriggered", message=message)
    kopf.info(cast(kopf.Body, raw_model), reason="RetrainRequested", message=message)
    metrics.RETRAINS.labels(
        namespace=policy.namespace, policy=policy.name, trigger=trigger_kind(reason)
    ).inc()


async def follow_request(
    policy: RetrainPolicy,
    model: MLModel,
    *,
    body: Any,
    patch: kopf.Patch,
    memo: Any,
    pending: str | None,
) -> bool:
    """Record the run the last request started; ask again if the request was lost. True when
    this tick did something."""
    last, taken = policy.status.last_trigger, model.status.retrain_request
    run = model.status.training
    started = run.run if run is not None and run.request == taken else None
    unrecorded = retrain_requests.policy_request_id(policy.name, policy.status.trigger_count + 1)
    if taken == unrecorded:
        # Our request started a run but our status patch was lost (restart): adopt it.
        patch.status["triggerCount"] = policy.status.trigger_count + 1
        patch.status["runsStarted"] = policy.status.runs_started + 1
        patch.status["lastTrigger"] = {
            "time": (run.started_at if run and run.started_at else datetime.now(UTC)).isoformat(),
            "reason": run.trigger[:1024] if run and started else "recovered after a restart",
            "request": taken,
            "run": started,
        }
        return True
    if last is None or last.request is None or last.run is not None:
        return False
    if taken == last.request:
        patch.status["lastTrigger"] = {**last.to_k8s(), "run": started or "(superseded)"}
        patch.status["runsStarted"] = policy.status.runs_started + 1
        kopf.info(body, reason="RetrainStarted", message=f"{last.request} started {started}.")
        return True
    if pending is None:
        request = retrain_requests.RetrainRequest(
            id=last.request, reason=last.reason, auto_promote=policy.spec.auto_promote
        )
        await memo.kube.aannotate(
            constants.MLMODEL_PLURAL,
            model.namespace,
            model.name,
            {retrain_requests.ANNOTATION: request.encode()},
        )
    return True

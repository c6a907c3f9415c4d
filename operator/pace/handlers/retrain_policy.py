"""The RetrainPolicy reconcile: check the model and monitor references, observe the triggers
and request a retrain of the MLModel when one fires.

Registered with `pace.handlers.reconciler` (one daemon per policy, conditional writes). The
model and monitor come from kopf's indexes (no GET); their changes wake the policy, and polled
triggers (metric, newData) are looked at every few seconds. Each look observes (the
DriftMonitor's newest check, the PromQL value, new rows under a prefix, whether the model can
take a retrain), lets `pace.core.triggers.evaluate` decide, and on firing
records the trigger in the audit log, puts a retrain request on the MLModel (see
pace.core.retrain_requests) and counts it in status. Counters, the drift streak, the metric
breach start and the new-data watermark live in status, so cooldown, streaks and concurrency
hold across operator restarts. The request id is ``<policy>#<count>``: a restart between the
request and the status patch asks again with the same id, which the MLModel takes once. A
schedule croniter cannot run is shown as Ready=False (InvalidSpec, naming
spec.triggers.schedule.cron) with a Warning event, while the other triggers keep working.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from pace import audit_log
from pace.adapters import events, metrics, prometheus_api
from pace.adapters.object_store import ObjectStore
from pace.api import constants
from pace.api.conditions import ConditionType
from pace.api.drift_monitor import DriftMonitor
from pace.api.mlmodel import ACTIVE, MLModel
from pace.api.retrain_policy import RetrainPolicy
from pace.core import (
    audit,
    datasets,
    durations,
    retrain_requests,
    rollout,
    status,
    triggers,
    uri_policy,
)
from pace.handlers import indexes, reconciler, reporting, stores
from pace.handlers.reconciler import Context

KIND = constants.RETRAIN_POLICY_KIND
TICK_SECONDS = 3.0


def references(policy: RetrainPolicy) -> list[reporting.Ref]:
    """The MLModel to retrain and, with a drift trigger, its DriftMonitor."""
    refs: list[reporting.Ref] = [
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


@dataclass
class Observed:
    """What one tick saw, the status fields it moves, and what it could not observe."""

    seen: triggers.Observations
    fields: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


Part = tuple[dict[str, Any], dict[str, Any], list[str]]  # observations, status fields, problems


def observe_drift(policy: RetrainPolicy, model: MLModel, found: dict[str, Any]) -> Part:
    """The monitor's newest check, counted once; a check against the reference of a version
    that no longer serves is passed over, and so is one without a verdict (Unknown: nothing
    served to check yet), which would change no streak: recording it would only cost a
    status write per policy whenever its monitor first looks at a model still in training."""
    trigger = policy.spec.triggers.drift
    if trigger is None:
        return {}, {}, []
    name = trigger.monitor_ref.name
    raw = indexes.one(found, indexes.MONITORS, (policy.namespace, name))
    if raw is None:
        return {}, {}, [f"DriftMonitor {name} not found"]
    try:
        monitor = DriftMonitor.from_body(raw)
    except pydantic.ValidationError:
        return {}, {}, [f"DriftMonitor {name} has an invalid spec"]
    checked = monitor.status.last_check
    seen_before = policy.status.last_drift_check
    if checked is None or (seen_before is not None and checked <= seen_before):
        return {}, {}, []
    verdict = status.find(monitor.status.conditions, ConditionType.DRIFT_DETECTED)
    if verdict is None or verdict.status == "Unknown":
        return {}, {}, []
    fields: dict[str, Any] = {"lastDriftCheck": checked.isoformat()}
    reference = monitor.status.reference_version
    if reference is not None and reference != model.status.serving_version:
        return {}, fields, []
    detected = verdict.status == "True"
    fields["driftReferenceVersion"] = reference
    return (
        {
            "drift_detected": detected,
            "share_drifted": monitor.status.share_drifted,
            "drift_check_time": checked,
            "drift_reference": reference,
        },
        fields,
        [],
    )


async def observe_metric(policy: RetrainPolicy, memo: Any, *, now: datetime) -> Part:
    """The PromQL value and since when it has crossed the threshold."""
    trigger = policy.spec.triggers.metric
    if trigger is None:
        return {}, {}, []
    if memo.prometheus is None:
        return {}, {}, ["metric: no Prometheus is configured (PACE_PROMETHEUS_URL)"]
    try:
        value = await memo.prometheus.aquery(trigger.query)
    except prometheus_api.PrometheusUnavailable as exc:
        return {}, {}, [f"metric: {exc}"]  # keep the breach start; the next tick asks again
    if value is None:
        return {}, {"metricBreachSince": None}, []
    crossed = (
        value > trigger.threshold if trigger.operator == "above" else value < trigger.threshold
    )
    since = (policy.status.metric_breach_since or now) if crossed else None
    return (
        {"metric_value": value, "metric_breach_since": since},
        {"metricBreachSince": since.isoformat() if since else None},
        [],
    )


Counted = dict[tuple[str, str], int]  # (key, last modified) -> rows


def count_new_rows(
    store: ObjectStore, prefix: str, after: datetime, counted: Counted
) -> tuple[int, list[str], Counted]:
    """Rows in .csv/.parquet objects changed after ``after``; an unreadable object is named
    and skipped, so one bad file does not stop the count. ``counted`` remembers each object
    version already read (key and last-modified time), so a look reads only what is new."""
    rows, problems, seen = 0, [], {}
    for key, modified in store.list_modified_after(prefix, after):
        if not key.endswith((".csv", ".parquet")):
            continue
        version = (key, modified.isoformat())
        if version not in counted:
            try:
                counted[version] = datasets.count_rows(key, store.get(key))
            except Exception as exc:  # a corrupt file must not stop the policy
                problems.append(
                    f"newData: {store.uri(key)} unreadable ({type(exc).__name__}: {exc})"
                )
                continue
        seen[version] = counted[version]
        rows += counted[version]
    return rows, problems, seen


async def observe_new_data(
    policy: RetrainPolicy, memo: Any, scratch: dict[Any, Any], *, armed_at: datetime
) -> Part:
    """Rows in objects written under the prefix since the watermark (creation or last firing)."""
    trigger = policy.spec.triggers.new_data
    if trigger is None:
        return {}, {}, []
    since = policy.status.new_data_since or armed_at
    fields = {} if policy.status.new_data_since else {"newDataSince": since.isoformat()}
    try:
        store, prefix = stores.for_uri(trigger.prefix, memo, namespace=policy.namespace)
        rows, problems, scratch["counted"] = await asyncio.to_thread(
            count_new_rows, store, prefix or "", since, scratch.get("counted", {})
        )
    except Exception as exc:  # listing refused (missing bucket, access denied)
        return {}, fields, [f"newData: cannot list {trigger.prefix} ({type(exc).__name__}: {exc})"]
    return {"new_rows": rows}, fields, problems


def observe_performance(policy: RetrainPolicy, model: MLModel) -> Part:
    """The serving version's live metric and its labelled rows (from the model's status)."""
    trigger = policy.spec.triggers.performance
    serving = rollout.find(model.status, model.status.serving_version)
    if trigger is None or serving is None or serving.live is None:
        return {}, {}, []
    value = serving.live.metrics.get(trigger.metric)
    if value is None:
        return {}, {}, [f"performance: {serving.version} has no live {trigger.metric}"]
    return {"live": (serving.version, value, serving.live.rows)}, {}, []


async def observe(
    policy: RetrainPolicy,
    model: MLModel,
    body: Any,
    ctx: Context,
    *,
    pending: str | None,
    now: datetime,
) -> Observed:
    armed_at = datetime.fromisoformat(body["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    run = model.status.training
    found: dict[str, Any] = {
        "armed_at": armed_at,
        "busy": triggers.model_busy(model.status, pending),
        "runs_in_flight": 1 if run is not None and run.state in ACTIVE else 0,
    }
    observed = Observed(triggers.Observations())
    for seen, fields, problems in (
        observe_drift(policy, model, ctx.indexes),
        observe_performance(policy, model),
        await observe_metric(policy, ctx.memo, now=now),
        await observe_new_data(policy, ctx.memo, ctx.scratch, armed_at=armed_at),
    ):
        found.update(seen)
        observed.fields.update(fields)
        observed.problems.extend(problems)
    observed.seen = triggers.Observations(**found)
    return observed


def trigger_kind(reason: str) -> str:
    """schedule, drift, metric or newData: the word before the first colon."""
    return reason.split(":", 1)[0]


async def reconcile(body: dict[str, Any], patch: kopf.Patch, ctx: Context) -> float | None:
    """References; then observe the triggers and request a retrain when one fires.

    Nothing goes into the patch before the request is made: a failed firing leaves the streak
    and watermarks as they were.
    """
    now = datetime.now(UTC)
    try:
        policy = RetrainPolicy.from_body(body)
    except pydantic.ValidationError as exc:
        reporting.report_invalid_spec(kind=KIND, body=body, patch=patch, exc=exc, now=now)
        return None
    # A trigger that cannot work is off (and named), not the rest.
    unreadable = uri_policy.retrain_policy_problems(
        policy.spec, policy.namespace, ctx.memo.config.read_policy
    )
    raw_model = indexes.one(
        ctx.indexes, indexes.MLMODELS, (policy.namespace, policy.spec.model_ref.name)
    )
    task = ((raw_model or {}).get("spec") or {}).get("task")
    problem = (
        "; ".join(
            [
                *([p] if (p := triggers.spec_problem(policy.spec, now=now, task=task)) else []),
                *(f"{path}: {what}" for path, what in unreadable),
            ]
        )
        or None
    )
    wait, seen = await reporting.look_up_references(
        body=body,
        found=ctx.indexes,
        refs=references(policy),
        now=now,
        invalid=problem,
        kube=ctx.memo.kube,
        remembered=ctx.scratch,
        seen_at=ctx.seen_at,
    )
    if wait is not None:
        return wait  # applied with its model or monitor, which does not exist yet: waits quietly
    ctx = dataclasses.replace(ctx, indexes=seen)
    raw_model = indexes.one(seen, indexes.MLMODELS, (policy.namespace, policy.spec.model_ref.name))
    found, moved = reporting.references_move(
        kind=KIND,
        body=body,
        found=ctx.indexes,
        refs=references(policy),
        ready_message="Policy is armed.",
        now=now,
        invalid=problem,
    )
    if moved:
        patch.update(moved)  # with the first evaluation below, when it can run: one write
        if not found:
            return 0.0
    memo = ctx.memo
    if memo.store is None or not found:
        return None  # the referenced objects' creation wakes the policy
    if raw_model is None:
        return None
    try:
        model = MLModel.from_body(raw_model)
    except pydantic.ValidationError:
        return None  # the MLModel reports its own invalid spec
    pending = (raw_model["metadata"].get("annotations") or {}).get(retrain_requests.ANNOTATION)
    if await follow_request(policy, model, body=body, patch=patch, memo=memo, pending=pending):
        return next_look(policy, now=now)
    current = policy.status
    observed = await observe(policy, model, body, ctx, pending=pending, now=now)
    if problem is not None:
        observed.problems.insert(0, problem)
    decision = triggers.evaluate(policy.spec, current, observed.seen, now=now)
    if decision.fire:
        await fire(policy, raw_model, model, decision.reason, body=body, memo=memo, now=now)
        fired = fired_fields(policy, decision.reason, now=now)
        observed.fields.update(fired)
    holding = None if decision.fire else "; ".join([*observed.problems, decision.reason])
    if holding != current.holding:
        observed.fields["holding"] = holding
    observed.fields["consecutiveDriftChecks"] = decision.consecutive_drift_checks
    for key, value in observed.fields.items():
        patch.status[key] = value
    return next_look(policy, now=now)


def next_look(policy: RetrainPolicy, *, now: datetime) -> float | None:
    """Polled triggers (metric, newData) every few seconds; a schedule at its next time; a
    cooldown at its end; drift and the model's state wake the policy when they change."""
    trig = policy.spec.triggers
    if trig.metric is not None or trig.new_data is not None:
        return TICK_SECONDS
    waits: list[float] = []
    last = policy.status.last_trigger
    if last is not None:
        ready_at = last.time.timestamp() + durations.seconds(policy.spec.cooldown)
        if ready_at > now.timestamp():
            waits.append(ready_at - now.timestamp())
    if trig.schedule is not None:
        after = last.time if last is not None else now
        try:
            due = triggers.next_schedule(trig.schedule.cron, after)
        except triggers.InvalidSchedule:
            pass  # reported as InvalidSpec; a fixed spec wakes the policy
        else:
            waits.append((due - now).total_seconds())
    return max(1.0, min(waits)) if waits else None


def dependents(body: dict[str, Any], found: dict[str, Any]) -> list[reconciler.Key]:
    return []


def request_for(policy: RetrainPolicy, count: int, reason: str) -> retrain_requests.RetrainRequest:
    return retrain_requests.RetrainRequest(
        id=retrain_requests.policy_request_id(policy.name, count, policy.uid),
        reason=reason,
        auto_promote=policy.spec.auto_promote,
    )


def fired_fields(policy: RetrainPolicy, reason: str, *, now: datetime) -> dict[str, Any]:
    """Status after a firing: counted, remembered, the new-data watermark moved on."""
    count = policy.status.trigger_count + 1
    fields: dict[str, Any] = {
        "lastTrigger": {
            "time": now.isoformat(),
            "reason": reason[:1024],
            "request": request_for(policy, count, reason).id,
            "run": None,
        },
        "triggerCount": count,
    }
    if policy.spec.triggers.new_data is not None:
        fields["newDataSince"] = now.isoformat()  # whatever fired, this run sees those rows
    return fields


async def fire(
    policy: RetrainPolicy,
    raw_model: dict[str, Any],
    model: MLModel,
    reason: str,
    *,
    body: Any,
    memo: Any,
    now: datetime,
) -> None:
    """Audit, then request the run on the MLModel (the caller counts it in status)."""
    count = policy.status.trigger_count + 1
    request = request_for(policy, count, reason)
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
        source=audit.policy_source(policy.name, policy.uid),
        first_seq=count,
        events=[event],
        now=now,
    )
    if (notifier := getattr(memo, "notifier", None)) is not None:
        notifier.wake(model.namespace, model.name)
    await ask(memo, model, request)
    message = f"Retrain of {model.name} requested ({request.id}): {reason}"[:1024]
    events.info(body, reason="RetrainTriggered", message=message)
    events.info(raw_model, reason="RetrainRequested", message=message)
    metrics.RETRAINS.labels(
        namespace=policy.namespace, policy=policy.name, trigger=trigger_kind(reason)
    ).inc()


async def ask(memo: Any, model: MLModel, request: retrain_requests.RetrainRequest) -> None:
    await memo.kube.aannotate(
        constants.MLMODEL_PLURAL,
        model.namespace,
        model.name,
        {retrain_requests.ANNOTATION: request.encode()},
    )


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
    last, taken = policy.status.last_trigger, model.status.retrain_requests
    run = model.status.training
    unrecorded = request_for(policy, policy.status.trigger_count + 1, "").id
    if unrecorded in taken:
        # Our request was made and taken, but our own status patch was lost (a restart right
        # after firing): count it now, with what the lost patch would have said.
        started = run.run if run is not None and run.request == unrecorded else "(superseded)"
        reason = run.trigger if run is not None and run.request == unrecorded else "(restart)"
        when = run.started_at if run is not None and run.started_at else datetime.now(UTC)
        fields = fired_fields(policy, reason, now=when)
        fields["lastTrigger"]["run"] = started
        fields |= {"runsStarted": policy.status.runs_started + 1, "consecutiveDriftChecks": 0}
        for key, value in fields.items():
            patch.status[key] = value
        return True
    if last is None or last.request is None or last.run is not None:
        return False
    if last.request in taken:
        started = run.run if run is not None and run.request == last.request else "(superseded)"
        patch.status["lastTrigger"] = {**last.to_k8s(), "run": started}
        patch.status["runsStarted"] = policy.status.runs_started + 1
        events.info(body, reason="RetrainStarted", message=f"{last.request} started {started}.")
        return True
    if pending is None:  # the annotation was lost (or removed by hand): ask again, same id
        await ask(memo, model, request_for(policy, policy.status.trigger_count, last.reason))
    return True


reconciler.register(
    kind=KIND, plural=constants.RETRAIN_POLICY_PLURAL, reconcile=reconcile, dependents=dependents
)

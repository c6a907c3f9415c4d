"""The MLModel's rollout step: the SeldonDeployment, the metric-gated canary, manual control.

A registered candidate is rolled out by `begin` (called when its training run ends); the
reconcile (`advance`) runs the analysis every canary interval and applies the decision; the
annotation ``mlops.pace.dev/action`` (set by `pace promote` / `pace rollback`) is acted on once and
removed; `promote` of a candidate held by ``autoPromote: false`` starts its rollout. Every
transition is recorded in the audit log. Canary state lives in status, so a restarted operator
resumes at the same step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from datetime import datetime
from typing import Any

import kopf

from pace.adapters import events, inference_log, metrics, prometheus_api
from pace.adapters.object_store import ObjectStore
from pace.api import constants
from pace.api.mlmodel import LiveGateResult, MLModel, MLModelStatus
from pace.core import (
    analysis_queries,
    audit,
    canary,
    durations,
    live_gate,
    live_quality,
    manual_actions,
    rollout,
    seldon_manifest,
    sink_auth,
)
from pace.handlers import auditing, indexes, mlmodel_serving, reporting, serving_access
from pace.handlers.reconciler import Context

KIND = constants.MLMODEL_KIND
log = logging.getLogger(__name__)
ACTION_ANNOTATION = manual_actions.ANNOTATION
InvalidAction = manual_actions.InvalidAction


def _manifest(
    model: MLModel, result: rollout.RolloutStatus, memo: Any, secret_name: str
) -> dict[str, Any] | None:
    """The SeldonDeployment for a rollout state (None: nothing serves yet)."""
    serving = rollout.find_in(result.versions, result.serving_version)
    if serving is None:
        return None
    candidate = rollout.find_in(result.versions, result.candidate_version)
    return seldon_manifest.build(
        model,
        serving=serving,
        candidate=candidate,
        canary_weight=result.canary.weight if (result.canary and candidate) else 0,
        secret_name=secret_name,
        log_url=memo.config.inference_log_url,
        log_token=(
            sink_auth.namespace_token(memo.sink_key, model.namespace) if memo.sink_key else None
        ),
        shadow=bool(result.canary and candidate and result.canary.shadow),
    )


async def apply_deployment(model: MLModel, result: rollout.RolloutStatus, memo: Any) -> None:
    """Render the SeldonDeployment for the rollout state and apply it, after the Secret its
    predictors read the model with (`serving_access`)."""
    if rollout.find_in(result.versions, result.serving_version) is None:
        return
    secret_name = await serving_access.secret_for(memo, model.namespace)
    manifest = _manifest(model, result, memo, secret_name)
    assert manifest is not None
    await asyncio.to_thread(
        memo.kube.apply_object, "machinelearning.seldon.io", "v1", "seldondeployments", manifest
    )
    weight = seldon_manifest.canary_weight(manifest)
    metrics.CANARY_WEIGHT.labels(namespace=model.namespace, model=model.name).set(weight)


async def converge(model: MLModel, ctx: Context) -> bool:
    """Apply the SeldonDeployment again when its routing is not what status says (an
    operator killed between applying a move and writing it, or a hand edit): status is the
    record, so the deployment follows it. True when it applied."""
    current = model.status
    state = rollout.RolloutStatus(
        versions=list(current.versions),
        serving_version=current.serving_version,
        candidate_version=current.candidate_version,
        canary=current.canary,
    )
    wanted = _manifest(model, state, ctx.memo, str(ctx.memo.config.serving_secret))
    if wanted is None:
        return False
    found = indexes.one(ctx.indexes, indexes.SELDON_DEPLOYMENTS, (model.namespace, model.name))
    routed = found.get("routing") if found is not None else None
    if routed == seldon_manifest.routing(wanted):
        return False
    log.warning(
        "SeldonDeployment %s/%s routes %s; status says %s: applying it again",
        model.namespace,
        model.name,
        routed if routed is not None else "nothing",
        seldon_manifest.routing(wanted),
    )
    await apply_deployment(model, state, ctx.memo)
    return True


async def write(
    *,
    model: MLModel,
    body: Any,
    patch: kopf.Patch,
    before: MLModelStatus,
    result: rollout.RolloutStatus,
    memo: Any,
    now: datetime,
) -> None:
    """Audit record, one status patch, events and metrics for a rollout step."""
    if result.event:
        _kind, reason, message = result.event
        version = before.candidate_version or result.candidate_version or result.serving_version
        weight = result.canary.weight if result.canary else None
        await auditing.append_for_model(
            memo,
            model,
            patch,
            [
                audit.rollout_event(
                    reason, message, version=version, serving=result.serving_version, weight=weight
                )
            ],
            now=now,
        )
    for key, value in result.patch().items():
        patch.status[key] = value
    if result.serving_version:
        patch.status["endpoint"] = seldon_manifest.endpoint(
            memo.config.serving_gateway, namespace=model.namespace, name=model.name
        )
        metrics.SERVING_VERSION.labels(
            namespace=model.namespace, model=model.name, version=result.serving_version
        ).set(1)
        if before.serving_version and before.serving_version != result.serving_version:
            metrics.SERVING_VERSION.labels(
                namespace=model.namespace, model=model.name, version=before.serving_version
            ).set(0)
    reporting.report_model(
        body=body,
        patch=patch,
        before=before.conditions,
        updates=result.conditions,
        generation=model.generation,
        post_events=False,
    )
    if result.event:
        kind, reason, message = result.event
        events.post(body, type=kind, reason=reason, message=message)
        metrics.ROLLOUTS.labels(namespace=model.namespace, model=model.name, result=reason).inc()


async def begin(
    model: MLModel,
    current: MLModelStatus,
    *,
    body: Any,
    patch: kopf.Patch,
    memo: Any,
    now: datetime,
) -> None:
    """Roll a freshly validated candidate out: straight to 100 % if nothing serves."""
    decision = canary.start(
        model.spec.serving.canary, has_serving=current.serving_version is not None, now=now
    )
    candidate = current.candidate_version
    assert candidate is not None
    if decision.action == "Promote":
        result = rollout.promote(
            current,
            candidate,
            reason=decision.reason,
            message=f"{candidate}: {decision.message}",
            generation=model.generation,
            now=now,
        )
    else:
        result = rollout.start_canary(current, decision, generation=model.generation, now=now)
    await apply_deployment(model, result, memo)
    await write(
        model=model, body=body, patch=patch, before=current, result=result, memo=memo, now=now
    )


async def _analyse(model: MLModel, memo: Any) -> list[analysis_queries.CheckResult] | None:
    """Run every check against Prometheus; None when it cannot be queried."""
    if memo.prometheus is None:
        return None
    spec = model.spec.serving.canary
    interval = durations.seconds(spec.interval)
    results = []
    try:
        for check in analysis_queries.checks_for(spec):
            promql = analysis_queries.render(
                check,
                namespace=model.namespace,
                model=model.name,
                predictor="canary",
                interval_seconds=interval,
            )
            results.append(analysis_queries.judge(check, await memo.prometheus.aquery(promql)))
    except prometheus_api.PrometheusUnavailable:
        return None
    return results


def _judge_live(model: MLModel, store: ObjectStore, since_ms: int) -> live_gate.GateResult:
    """Canary and main on the labelled requests logged since the candidate was registered."""
    gate = model.spec.serving.canary.live_gate
    assert gate is not None
    responses, labels = inference_log.window(store, model.namespace, model.name, since_ms=since_ms)
    joined = live_quality.labelled(responses, labels)
    versions = joined["_version"]
    return live_gate.judge(
        gate.metric,
        joined[versions == model.status.candidate_version],
        joined[versions == model.status.serving_version],
        min_rows=gate.min_labelled_rows,
        margin=gate.margin,
        alpha=gate.alpha,
    )


async def _live(model: MLModel, memo: Any) -> live_gate.GateResult | None:
    """The live gate's verdict (None: no gate, or no object store to read labels from)."""
    candidate = rollout.find(model.status, model.status.candidate_version)
    if model.spec.serving.canary.live_gate is None or memo.store is None or candidate is None:
        return None
    since = candidate.created_at.timestamp() if candidate.created_at else 0.0
    return await asyncio.to_thread(_judge_live, model, memo.store, int(since * 1000))


def _gate_state(result: live_gate.GateResult) -> LiveGateResult:
    def finite(value: float | None) -> float | None:
        return value if value is not None and math.isfinite(value) else None

    return LiveGateResult(
        verdict=result.verdict,
        metric=result.metric,
        canary=finite(result.canary),
        main=finite(result.main),
        rows_canary=result.rows_canary,
        rows_main=result.rows_main,
        statistic=finite(result.statistic),
        p_value=finite(result.p_value),
    )


async def advance(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """Manual actions first; then, when an interval has passed, one canary analysis."""
    memo = ctx.memo
    current = model.status
    if await converge(model, ctx):
        return  # its watch event wakes the model again
    action = (body["metadata"].get("annotations") or {}).get(ACTION_ANNOTATION)
    if action:
        await act(model, action, body=body, patch=patch, memo=memo, now=now)
        return
    state, spec = current.canary, model.spec.serving.canary
    if state is None or current.candidate_version is None:
        return
    verdict = mlmodel_serving.predictor_readiness(model, ctx, canary.predictor_of(state))
    failed = verdict.message if verdict.reason == "PredictorFailed" else None
    decision = canary.wait_for_predictor(state, spec, ready=verdict.ready, failed=failed, now=now)
    if decision is not None and decision.state == state:
        return  # still starting: nothing to write until Seldon's status changes
    if decision is None:
        if not canary.due(state, spec, now=now):
            return
        # A shadow answers nobody: the live gate alone judges it (so it does without Prometheus).
        results = await _analyse(model, memo) if not (spec.paused or state.shadow) else []
        if results is None and memo.prometheus is None and spec.live_gate is not None:
            results = []  # no Prometheus: the live gate alone judges
        gate = await _live(model, memo) if results is not None and not spec.paused else None
        awaiting = None
        if gate is not None and gate.verdict == "inconclusive":
            awaiting = gate.message
        elif gate is not None and results is not None:
            check = analysis_queries.CheckResult(
                "live-gate", gate.p_value, gate.verdict == "passed", gate.message
            )
            results = [*results, check]
        decision = canary.decide(state, spec, results, now=now, awaiting=awaiting)
        if gate is not None:
            live = _gate_state(gate)
            decision = dataclasses.replace(
                decision, state=decision.state.model_copy(update={"live": live})
            )
        label = (
            "hold"
            if decision.action == "Hold" and decision.reason != "CheckFailed"
            else "failed"
            if decision.reason in ("CheckFailed", "AnalysisFailed")
            else "passed"
        )
        metrics.CANARY_CHECKS.labels(
            namespace=model.namespace, model=model.name, result=label
        ).inc()
    result = rollout.step(current, decision, generation=model.generation, now=now)
    if decision.action != "Hold":
        await apply_deployment(model, result, memo)
    await write(
        model=model, body=body, patch=patch, before=current, result=result, memo=memo, now=now
    )


async def act(
    model: MLModel, action: str, *, body: Any, patch: kopf.Patch, memo: Any, now: datetime
) -> None:
    """Carry out a manual action; the annotation is removed only once it is done (a failure
    leaves it for the next tick) or refused as invalid."""
    current = model.status
    try:
        request = manual_actions.parse(action)
        if request.verb == "promote" and current.candidate_version and current.canary is None:
            # A candidate held by autoPromote: false; promotion approves its rollout.
            await begin(model, current, body=body, patch=patch, memo=memo, now=now)
        else:
            result = manual(model, request, now=now)
            if result is not None:
                await apply_deployment(model, result, memo)
                await write(
                    model=model,
                    body=body,
                    patch=patch,
                    before=current,
                    result=result,
                    memo=memo,
                    now=now,
                )
    except InvalidAction as exc:
        patch.metadata.annotations[ACTION_ANNOTATION] = None
        events.warn(body, reason="InvalidAction", message=str(exc))
        return
    patch.metadata.annotations[ACTION_ANNOTATION] = None


def manual(
    model: MLModel, request: manual_actions.ManualAction, *, now: datetime
) -> rollout.RolloutStatus | None:
    """The new rollout state for a parsed action annotation (None: nothing to do).

    Raises:
        InvalidAction: the rollback target cannot be rolled back to.
    """
    current, generation = model.status, model.generation
    if request.verb == "promote":
        if current.candidate_version is None:
            return None
        return rollout.promote(
            current,
            current.candidate_version,
            reason="ManualPromotion",
            message=f"{current.candidate_version} promoted by request.",
            generation=generation,
            now=now,
        )
    target = request.version
    problem = rollout.rollback_target_problem(current, target) if target else None
    if problem is not None:
        raise InvalidAction(f"{ACTION_ANNOTATION}: {problem}")
    if current.candidate_version is None and target is None:
        return None
    what = f" to {target}" if target else ""
    return rollout.roll_back(
        current,
        reason="ManualRollback",
        message=f"Rolled back{what} by request.",
        generation=generation,
        now=now,
        to=target,
    )

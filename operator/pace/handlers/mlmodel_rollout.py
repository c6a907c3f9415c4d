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
from datetime import datetime
from typing import Any

import kopf

from pace.adapters import events, metrics, prometheus_api
from pace.api import constants
from pace.api.mlmodel import MLModel, MLModelStatus
from pace.core import analysis_queries, audit, canary, durations, rollout, seldon_manifest
from pace.handlers import auditing, mlmodel_serving, reporting
from pace.handlers.reconciler import Context

KIND = constants.MLMODEL_KIND
ACTION_ANNOTATION = f"{constants.GROUP}/action"


class InvalidAction(ValueError):
    """The action annotation asks for something that cannot be done; the message says why."""


async def apply_deployment(model: MLModel, result: rollout.RolloutStatus, memo: Any) -> None:
    """Render the SeldonDeployment for the rollout state and apply it."""
    serving = rollout.find_in(result.versions, result.serving_version)
    if serving is None:
        return
    candidate = rollout.find_in(result.versions, result.candidate_version)
    weight = result.canary.weight if (result.canary and candidate) else 0
    manifest = seldon_manifest.build(
        model,
        serving=serving,
        candidate=candidate,
        canary_weight=weight,
        secret_name=memo.config.serving_secret,
        log_url=memo.config.inference_log_url,
    )
    await asyncio.to_thread(
        memo.kube.apply_object, "machinelearning.seldon.io", "v1", "seldondeployments", manifest
    )
    metrics.CANARY_WEIGHT.labels(namespace=model.namespace, model=model.name).set(weight)


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


async def advance(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """Manual actions first; then, when an interval has passed, one canary analysis."""
    memo = ctx.memo
    current = model.status
    action = (body["metadata"].get("annotations") or {}).get(ACTION_ANNOTATION)
    if action:
        await act(model, action, body=body, patch=patch, memo=memo, now=now)
        return
    state, spec = current.canary, model.spec.serving.canary
    if state is None or current.candidate_version is None:
        return
    verdict = mlmodel_serving.predictor_readiness(model, ctx, "canary")
    failed = verdict.message if verdict.reason == "PredictorFailed" else None
    decision = canary.wait_for_predictor(state, spec, ready=verdict.ready, failed=failed, now=now)
    if decision is not None and decision.state == state:
        return  # still starting: nothing to write until Seldon's status changes
    if decision is None:
        if not canary.due(state, spec, now=now):
            return
        results = await _analyse(model, memo) if not spec.paused else []
        decision = canary.decide(state, spec, results, now=now)
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
        if action == "promote" and current.candidate_version and current.canary is None:
            # A candidate held by autoPromote: false; promotion approves its rollout.
            await begin(model, current, body=body, patch=patch, memo=memo, now=now)
        else:
            result = manual(model, action, now=now)
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


def manual(model: MLModel, action: str, *, now: datetime) -> rollout.RolloutStatus | None:
    """`promote`, `rollback` or `rollback:<version>` from the action annotation."""
    current, generation = model.status, model.generation
    verb, _, version = action.partition(":")
    if verb == "promote":
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
    if verb == "rollback":
        target = version or None
        problem = rollout.rollback_target_problem(current, target) if target else None
        if problem is not None:
            raise InvalidAction(f"{model.name}: {problem}")
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
    raise InvalidAction(f"unknown action {action!r}: use promote, rollback or rollback:<version>")

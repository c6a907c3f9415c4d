"""MLModel handlers: accept the spec, start a training run when the training spec changes or
a retrain is requested, and follow the run to its registered version.

Spec events (create/update/resume) decide whether a run starts; a timer takes retrain requests
(the ``mlops.pace.dev/retrain`` annotation, see pace.core.retrain_requests) and polls the run.
State lives in status.training, so a restarted operator resumes the same run instead of starting
another. Every start, gate result and failure is recorded in the audit log.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from pace.adapters import metrics, pipeline_backend
from pace.api import conditions, constants
from pace.api.conditions import Condition, ConditionType, Reason, Status
from pace.api.mlmodel import MLModel, TrainingRun
from pace.core import (
    audit,
    naming,
    pipeline_plan,
    retrain_requests,
    spec_hash,
    status,
    training_runs,
)
from pace.handlers import auditing, mlmodel_rollout, reporting

KIND = constants.MLMODEL_KIND
POLL_SECONDS = 2.0


@kopf.on.resume(constants.GROUP, constants.VERSION, constants.MLMODEL_PLURAL)
@kopf.on.create(constants.GROUP, constants.VERSION, constants.MLMODEL_PLURAL)
@kopf.on.update(constants.GROUP, constants.VERSION, constants.MLMODEL_PLURAL)
@reporting.instrumented(KIND)
async def reconcile_mlmodel(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Accept the spec; start a training run if none exists for this training spec."""
    now = datetime.now(UTC)
    generation = int(body["metadata"].get("generation", 0))
    try:
        model = MLModel.from_body(body)
    except pydantic.ValidationError as exc:
        message = reporting.invalid_spec_message(exc)
        before = conditions.parse_conditions(dict(body.get("status") or {}))
        reporting.report_model(
            body=body,
            patch=patch,
            before=before,
            generation=generation,
            updates=[
                status.condition(
                    ConditionType.SPEC_VALID,
                    "False",
                    Reason.INVALID_SPEC,
                    message,
                    generation=generation,
                    now=now,
                )
            ],
        )
        raise kopf.PermanentError(message) from None
    updates = [
        status.condition(
            ConditionType.SPEC_VALID,
            "True",
            Reason.ACCEPTED,
            "The spec is valid.",
            generation=generation,
            now=now,
        )
    ]
    updates += _first_visit(model, generation=generation, now=now, can_train=memo.store is not None)
    if memo.store is not None:
        run = await _start_run(model, memo, patch, now=now)
        if run is not None:
            updates.append(training_runs.training_condition(run, generation=generation, now=now))
    reporting.report_model(
        body=body,
        patch=patch,
        before=model.status.conditions,
        updates=updates,
        generation=generation,
    )


def _first_visit(
    model: MLModel, *, generation: int, now: datetime, can_train: bool
) -> list[Condition]:
    """Conditions set Unknown/False the first time the model is seen (API conventions)."""
    waiting = (
        "Waiting for a training run."
        if can_train
        else "No object store is configured (PACE_S3_ENDPOINT); nothing can be trained."
    )
    first: dict[ConditionType, tuple[Status, Reason, str]] = {
        ConditionType.TRAINED: ("Unknown", Reason.PENDING, waiting),
        ConditionType.READY: ("False", Reason.NOT_TRAINED, "No version is serving yet."),
    }
    return [
        status.condition(type_, state, reason, message, generation=generation, now=now)
        for type_, (state, reason, message) in first.items()
        if status.find(model.status.conditions, type_) is None
    ]


async def _start_run(
    model: MLModel,
    memo: Any,
    patch: kopf.Patch,
    *,
    now: datetime,
    request: retrain_requests.RetrainRequest | None = None,
) -> TrainingRun | None:
    """Start the run the spec (or a retrain request) calls for, if any: submit it, record it
    in the audit log, and put it in status.training."""
    hash_ = spec_hash.spec_hash(model.spec)
    start = training_runs.decide_start(
        model.status,
        model=model.name,
        spec_hash=hash_,
        retrain_reason=request.reason if request else None,
    )
    if start is None:
        return None
    run = training_runs.new_run(start, spec_hash=hash_, backend=memo.backend.name, now=now)
    if request is not None:
        run = run.model_copy(update={"request": request.id, "auto_promote": request.auto_promote})
    await _submit(model, run, memo)
    await auditing.append_for_model(
        memo, model, patch, [audit.run_started(run, serving=model.status.serving_version)], now=now
    )
    patch.status["training"] = run.to_patch()
    return run


async def _submit(model: MLModel, run: TrainingRun, memo: Any) -> None:
    """Compile (cached by spec hash), keep the IR in the store, submit (idempotent)."""
    ir_path, _cached = await asyncio.to_thread(
        pipeline_backend.compile_for_spec,
        spec_hash=run.spec_hash,
        parameters=pipeline_plan.spec_parameters(model.spec),
        cache_dir=memo.config.pipeline_dir / "compiled",
    )
    key = naming.pipeline_cache_key(run.spec_hash)
    if not await asyncio.to_thread(memo.store.exists, key):
        await asyncio.to_thread(
            memo.store.put, key, ir_path.read_bytes(), content_type="application/yaml"
        )
    request = pipeline_plan.run_request(model, run, bucket=memo.store.bucket)
    await asyncio.to_thread(memo.backend.submit, request, ir_path, env=memo.s3.to_env())
    metrics.PIPELINE_RUNS.labels(
        namespace=model.namespace, model=model.name, result="submitted"
    ).inc()


@kopf.timer(
    constants.GROUP,
    constants.VERSION,
    constants.MLMODEL_PLURAL,
    interval=POLL_SECONDS,
    initial_delay=POLL_SECONDS,
)
@reporting.instrumented(KIND)
async def follow_training(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Take a retrain request; poll the run in flight; record its version, or its failing
    step, when it ends."""
    model = MLModel.from_body(body)
    if memo.store is None:
        return
    now = datetime.now(UTC)
    if await _take_retrain_request(model, body=body, patch=patch, memo=memo, now=now):
        return
    run = model.status.training
    if run is None or run.state not in ("Pending", "Running"):
        return
    generation = model.generation
    request = pipeline_plan.run_request(model, run, bucket=memo.store.bucket)
    state = await asyncio.to_thread(memo.backend.status, request)
    if state.state in ("Lost", "NotFound"):
        if run.spec_hash != spec_hash.spec_hash(model.spec):
            return  # superseded by a newer spec; its own run is on the way
        await _submit(model, run, memo)
        patch.status["training"] = run.model_copy(
            update={"attempts": run.attempts + 1, "state": "Pending"}
        ).to_k8s()
        kopf.warn(
            body,
            reason="TrainingResubmitted",
            message=f"Run {run.run} was lost ({state.message}); submitted again.",
        )
        return
    if state.state in ("Pending", "Running"):
        if (state.state, state.step) != (run.state, run.step):
            moved = run.model_copy(update={"state": state.state, "step": state.step})
            patch.status["training"] = moved.to_patch()
            reporting.report_model(
                body=body,
                patch=patch,
                before=model.status.conditions,
                updates=[training_runs.training_condition(moved, generation=generation, now=now)],
                generation=generation,
                post_events=False,
            )
        return
    if state.state == "Succeeded":
        key = naming.artifact_key(
            namespace=model.namespace, model=model.name, version=run.version, artifact="lineage"
        )
        lineage = await asyncio.to_thread(memo.store.get_json, key)
        outcome = training_runs.succeeded(
            model.status,
            run.model_copy(update={"step": state.step}),
            lineage,
            generation=generation,
            now=now,
        )
        result = "succeeded" if outcome.candidate_version == run.version else "rejected"
    else:
        outcome = training_runs.failed(
            model.status,
            run,
            failed_step=state.failed_step,
            message=state.message,
            generation=generation,
            now=now,
        )
        result = "failed"
    serving = model.status.serving_version
    if outcome.run.state == "Failed":
        events = [audit.run_failed(outcome.run, serving=serving)]
    else:
        events = [
            audit.version_registered(
                outcome.versions[-1], lineage.get("gates", {}), serving=serving, run=run.run
            )
        ]
    awaiting = outcome.candidate_version == run.version and not run.auto_promote
    if awaiting:
        events.append(audit.awaiting_promotion(run.version, serving=serving))
    await auditing.append_for_model(memo, model, patch, events, now=now)
    metrics.PIPELINE_RUNS.labels(namespace=model.namespace, model=model.name, result=result).inc()
    patch.status["training"] = outcome.run.to_patch()
    patch.status["versions"] = [v.to_k8s() for v in outcome.versions]
    patch.status["candidateVersion"] = outcome.candidate_version
    after = reporting.report_model(
        body=body,
        patch=patch,
        before=model.status.conditions,
        updates=outcome.conditions,
        generation=generation,
    )
    for version in outcome.versions[-1:]:
        for name, value in version.metrics.items():
            metrics.MODEL_METRIC.labels(
                namespace=model.namespace, model=model.name, version=version.version, metric=name
            ).set(value)
    if awaiting:
        kopf.info(
            body,
            reason="AwaitingPromotion",
            message=f"{run.version} passed its gates; autoPromote is false: run `pace promote "
            f"{model.name} -n {model.namespace}` to roll it out.",
        )
        return
    if outcome.candidate_version == run.version and state.state == "Succeeded":
        current = model.status.model_copy(
            update={
                "conditions": after,
                "versions": outcome.versions,
                "candidate_version": outcome.candidate_version,
            }
        )
        await mlmodel_rollout.begin(model, current, body=body, patch=patch, memo=memo, now=now)


async def _take_retrain_request(
    model: MLModel, *, body: kopf.Body, patch: kopf.Patch, memo: Any, now: datetime
) -> bool:
    """Start the run a retrain annotation asks for; True when this tick did something.

    The annotation is removed only on a later tick, once status.retrainRequests shows the run
    was recorded, so a restart in between neither loses the request nor starts it twice (the
    run name is the same and the backend's submit is idempotent).
    """
    value = (body["metadata"].get("annotations") or {}).get(retrain_requests.ANNOTATION)
    if value is None:
        return False
    try:
        request = retrain_requests.parse(value)
    except retrain_requests.InvalidRequest as exc:
        patch.metadata.annotations[retrain_requests.ANNOTATION] = None
        kopf.warn(body, reason="InvalidRetrainRequest", message=str(exc))
        return True
    latest = model.status.training
    if request.id in model.status.retrain_requests:
        patch.metadata.annotations[retrain_requests.ANNOTATION] = None
        return False
    if latest is not None and latest.state in ("Pending", "Running"):
        return False  # taken when the run in flight ends
    if model.status.candidate_version is not None:
        return False  # taken once the candidate is promoted or rolled back
    run = await _start_run(model, memo, patch, now=now, request=request)
    assert run is not None  # a retrain reason always starts a run when none is in flight
    patch.status["retrainRequests"] = retrain_requests.remember(
        model.status.retrain_requests, request.id
    )
    reporting.report_model(
        body=body,
        patch=patch,
        before=model.status.conditions,
        updates=[training_runs.training_condition(run, generation=model.generation, now=now)],
        generation=model.generation,
    )
    kopf.info(
        body, reason="RetrainStarted", message=f"{run.run} for {run.version}: {run.trigger}"[:1024]
    )
    return True

"""The MLModel reconcile: one move per look, in a fixed order, from one snapshot.

Registered with `pace.handlers.reconciler` (one daemon per MLModel, conditional writes). Each
look parses the snapshot and runs the steps below in order; the first step that changes
anything ends the look (its patch is written, then the object is looked at again):

0. **parse**: a spec that does not parse, or that `pace.core.spec_checks` finds no run could
   carry out (a metric the task does not compute, a hyperparameter the estimator refuses,
   ...), is reported as SpecValid=False, InvalidSpec, naming each field; nothing else is done
   until the spec is fixed.
1. **spec** (`accept_spec`): SpecValid, the first conditions, observedGeneration; a change of
   the training spec supersedes the canary or candidate of the old spec and the run in flight,
   then queues a run for the new one.
2. **retrain request** (`take_retrain_request`): the ``mlops.pace.dev/retrain`` annotation
   queues a run (see pace.core.retrain_requests).
3. **training** (`pace.handlers.mlmodel_training`): queue admission, submission, polling, the
   registered version or the failure.
4. **rollout** (`pace.handlers.mlmodel_rollout`): manual actions, canary analysis (once the
   canary predictor answers).
5. **serving** (`pace.handlers.mlmodel_serving`): Ready follows the SeldonDeployment's status.
6. **drift** (`pace.handlers.mlmodel_drift`): DriftDetected mirrored from the monitors; it
   also rides along with the write of any step above (a mirror decides nothing, and a new
   model then writes once, not twice).
7. **live quality** (`pace.handlers.mlmodel_live`): each serving version's metrics on
   labelled live traffic, every ``spec.liveQuality.interval``.
7b. **batch** (`pace.handlers.mlmodel_batch`): scheduled batch scoring (``spec.batch``).
8. **retention** (`pace.handlers.mlmodel_retention`): the expired part of the model's
   inference log deleted from the bucket (``spec.retention.inferenceLog``).
9. **inference log** (`pace.handlers.mlmodel_sink`): InferenceLogged shows records the sink
   had to quarantine.
10. **notifications** (`pace.handlers.mlmodel_notify`): the webhooks' delivery task is
   registered; Notified shows whether they take the audit events.

State lives in status, so a restarted operator resumes instead of repeating; the write is
conditional on the resourceVersion read, so no two looks can both act on one state.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from pace.adapters import events
from pace.api import conditions, constants
from pace.api.conditions import Condition, ConditionType, Reason, Status
from pace.api.mlmodel import ACTIVE, MLModel, TrainingRun
from pace.core import (
    canary,
    merge_patch,
    retrain_requests,
    rollout,
    spec_checks,
    spec_hash,
    status,
    training_runs,
    uri_policy,
)
from pace.handlers import (
    indexes,
    mlmodel_batch,
    mlmodel_drift,
    mlmodel_live,
    mlmodel_notify,
    mlmodel_retention,
    mlmodel_rollout,
    mlmodel_serving,
    mlmodel_sink,
    mlmodel_training,
    reconciler,
    reporting,
    serving_access,
)
from pace.handlers.reconciler import Context

log = logging.getLogger(__name__)
KIND = constants.MLMODEL_KIND
Step = Callable[[MLModel, dict[str, Any], kopf.Patch, Context, datetime], Awaitable[None]]


async def reconcile(body: dict[str, Any], patch: kopf.Patch, ctx: Context) -> float | None:
    """One look at an MLModel: the first step that changes something writes its patch."""
    now = datetime.now(UTC)
    # Inline: parsing is pure CPU (the estimators' parameters come from the generated table,
    # `pace.core.estimator_table`; scikit-learn is never imported here).
    model = parse(body, ctx.memo.config.read_policy, ctx.scratch)
    if isinstance(model, str):
        _invalid_spec(body, patch, model, now=now)
        mlmodel_training.drop_queued(body, patch, ctx.memo, now=now)
        return None
    steps: tuple[Step, ...] = (
        accept_spec,
        take_retrain_request,
        mlmodel_training.advance,
        mlmodel_rollout.advance,
        mlmodel_serving.follow,
        mlmodel_drift.mirror,
        mlmodel_live.measure,
        mlmodel_batch.advance,
        mlmodel_retention.sweep,
        mlmodel_sink.show,
        mlmodel_notify.show,
    )
    for index, step in enumerate(steps):
        moved = kopf.Patch()
        await step(model, body, moved, ctx, now)
        if merge_patch.changes(body, dict(moved)):
            patch.update(moved)
            if index < steps.index(mlmodel_drift.mirror):
                await _drift_along(body, patch, ctx, now)
            return 0.0
    return _sooner(
        next_look(model, now=now),
        mlmodel_training.seconds_until_queued_look(model, ctx.memo),
        mlmodel_training.seconds_until_admission(model, ctx.memo),
        mlmodel_live.seconds_until_due(model, ctx, now=now),
        mlmodel_retention.seconds_until_due(model, ctx, now=now),
        mlmodel_batch.seconds_until_due(model, now=now),
    )


async def _drift_along(
    body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """DriftDetected rides along with an earlier step's write: it only mirrors the monitors
    (no I/O, no decision), and a new model would otherwise write a second time for it (its
    monitor's "waiting for a verdict") right after its first. Computed on the object as the
    move leaves it, so the two compose into one patch."""
    after = merge_patch.apply(body, dict(patch))
    model = parse(after, ctx.memo.config.read_policy, ctx.scratch)
    if isinstance(model, str):
        return
    mirrored = kopf.Patch()
    await mlmodel_drift.mirror(model, after, mirrored, ctx, now)
    if merge_patch.changes(after, dict(mirrored)):
        patch.update(merge_patch.compose(dict(patch), dict(mirrored)))


def parse(
    body: dict[str, Any], policy: uri_policy.ReadPolicy, scratch: dict[Hashable, Any] | None = None
) -> MLModel | str:
    """The model in a snapshot; or, when its spec does not parse, no run could carry it out
    (`pace.core.spec_checks`) or it names data the operator may not read for its namespace
    (`pace.core.uri_policy`), the InvalidSpec message naming each field. The checks' verdict
    is kept in ``scratch`` (the object's loop) for the spec's generation: a spec changes only
    with its generation."""
    try:
        model = MLModel.from_body(body)
    except pydantic.ValidationError as exc:
        return reporting.invalid_spec_message(exc)
    checked = (scratch or {}).get("spec_checked")
    if checked is not None and checked[0] == (model.uid, model.generation):
        problems = checked[1]
    else:
        problems = spec_checks.problems(model.spec)
        problems += uri_policy.mlmodel_problems(model.spec, model.namespace, policy)
        if scratch is not None and model.generation:
            scratch["spec_checked"] = ((model.uid, model.generation), problems)
    return spec_checks.message(problems) if problems else model


def _sooner(*seconds: float | None) -> float | None:
    known = [s for s in seconds if s is not None]
    return min(known) if known else None


def next_look(model: MLModel, *, now: datetime) -> float | None:
    """Seconds until something time-driven is due (None: only a change wakes the model; a
    queued run's looks: `mlmodel_training.seconds_until_queued_look`)."""
    run = model.status.training
    if run is not None and run.state in ("Pending", "Running"):
        return mlmodel_training.POLL_SECONDS
    state = model.status.canary
    if state is not None and model.status.candidate_version is not None:
        return max(1.0, canary.seconds_until_due(state, model.spec.serving.canary, now=now))
    return None


def _invalid_spec(body: dict[str, Any], patch: kopf.Patch, message: str, *, now: datetime) -> None:
    generation = int(body["metadata"].get("generation", 0))
    reporting.report_model(
        body=body,
        patch=patch,
        before=conditions.parse_conditions(dict(body.get("status") or {})),
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


async def accept_spec(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """SpecValid, first-visit conditions; supersede what an older training spec started, and
    queue a run for the current one."""
    generation = model.generation
    memo = ctx.memo
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
        hash_ = spec_hash.spec_hash(model.spec)
        if await _supersede(model, body, patch, ctx, spec_hash_=hash_, now=now):
            return
        run = start_run(model, patch, ctx, now=now)
        if run is not None:
            updates.append(training_runs.training_condition(run, generation=generation, now=now))
    reporting.report_model(
        body=body,
        patch=patch,
        before=model.status.conditions,
        updates=updates,
        generation=generation,
    )


async def _supersede(
    model: MLModel,
    body: dict[str, Any],
    patch: kopf.Patch,
    ctx: Context,
    *,
    spec_hash_: str,
    now: datetime,
) -> bool:
    """A training spec change ends what the old spec started, one thing per look: first the
    canary or waiting candidate (rolled back, its version marked superseded), then the queued
    or running run (cancelled, marked Superseded). True when this look did one of them."""
    current = model.status
    candidate = rollout.find(current, current.candidate_version)
    if candidate is not None and candidate.spec_hash not in (None, spec_hash_):
        result = rollout.roll_back(
            current,
            reason="Superseded",
            message=f"{candidate.version} superseded by a new training spec; its rollout ended.",
            generation=model.generation,
            now=now,
            candidate_stage="superseded",
        )
        await mlmodel_rollout.apply_deployment(model, result, ctx.memo)
        await mlmodel_rollout.write(
            model=model,
            body=body,
            patch=patch,
            before=current,
            result=result,
            memo=ctx.memo,
            now=now,
        )
        return True
    old = training_runs.supersedes(current, spec_hash=spec_hash_)
    if old is None:
        return False
    await mlmodel_training.cancel(model, old, ctx)
    patch.status["training"] = training_runs.superseded(old, now=now).to_patch()
    events.info(
        body,
        reason="RunSuperseded",
        message=f"{old.run} for {old.version} cancelled: a newer training spec replaced it.",
    )
    return True


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


def start_run(
    model: MLModel,
    patch: kopf.Patch,
    ctx: Context,
    *,
    now: datetime,
    request: retrain_requests.RetrainRequest | None = None,
) -> TrainingRun | None:
    """Queue the run the spec (or a retrain request) calls for, if any, in status.training
    with its place in the queue; the training step submits it once the queue admits it."""
    backend = ctx.memo.backend.name
    hash_ = spec_hash.spec_hash(model.spec)
    start = training_runs.decide_start(
        model.status,
        model=model.name,
        spec_hash=hash_,
        retrain_reason=request.reason if request else None,
        uid=model.uid,
    )
    if start is None:
        return None
    # A model's first run was asked for when the object was created: the queue serves models
    # applied together in the order they were applied.
    asked = model.created if start.trigger == "create" else now
    run = training_runs.new_run(start, spec_hash=hash_, backend=backend, now=asked or now)
    if request is not None:
        run = run.model_copy(update={"request": request.id, "auto_promote": request.auto_promote})
    run = mlmodel_training.place(model, run, ctx)
    patch.status["training"] = run.to_patch()
    return run


async def take_retrain_request(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """Queue the run a retrain annotation asks for.

    The annotation is removed only on a later look, once status.retrainRequests shows the run
    was recorded, so a restart in between neither loses the request nor starts it twice.
    """
    value = (body["metadata"].get("annotations") or {}).get(retrain_requests.ANNOTATION)
    if value is None or ctx.memo.store is None:
        return
    try:
        request = retrain_requests.parse(value)
    except retrain_requests.InvalidRequest as exc:
        patch.metadata.annotations[retrain_requests.ANNOTATION] = None
        events.warn(body, reason="InvalidRetrainRequest", message=str(exc))
        return
    latest = model.status.training
    if request.id in model.status.retrain_requests:
        patch.metadata.annotations[retrain_requests.ANNOTATION] = None
        return
    if latest is not None and latest.state in ACTIVE:
        return  # taken when the run in flight ends
    if model.status.candidate_version is not None:
        return  # taken once the candidate is promoted or rolled back
    run = start_run(model, patch, ctx, now=now, request=request)
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
    events.info(
        body, reason="RetrainStarted", message=f"{run.run} for {run.version}: {run.trigger}"
    )


def dependents(body: dict[str, Any], found: dict[str, Any]) -> list[reconciler.Key]:
    """A model's change may concern its monitors (reference version) and policies."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    keys: list[reconciler.Key] = [
        (constants.DRIFT_MONITOR_PLURAL, namespace, monitor)
        for monitor in indexes.names(found, indexes.MONITORS_BY_MODEL, (namespace, name))
    ]
    keys += [
        (constants.RETRAIN_POLICY_PLURAL, namespace, policy)
        for policy in indexes.names(found, indexes.POLICIES_BY_TARGET, (namespace, "model", name))
    ]
    return keys


async def deleted(body: dict[str, Any], memo: Any, found: dict[str, Any]) -> None:
    """A deleted model's run in flight is stopped and its training slot freed; the
    namespace's last MLModel takes its serving reader key with it."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    with contextlib.suppress(pydantic.ValidationError):
        model = MLModel.from_body(body)
        run = model.status.training
        if run is not None:
            await mlmodel_training.stop(model, run, memo)
    others = [k for k in found.get(indexes.MLMODELS, {}) if k[0] == namespace and k[1] != name]
    if not others and await serving_access.release(memo, namespace):
        log.info(
            "the last MLModel of %s is deleted: its read-only store user and Secret %s were "
            "removed",
            namespace,
            memo.config.serving_secret,
        )


reconciler.register(
    kind=KIND,
    plural=constants.MLMODEL_PLURAL,
    reconcile=reconcile,
    dependents=dependents,
    on_deleted=deleted,
)

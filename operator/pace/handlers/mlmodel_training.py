"""The MLModel's training step: queue admission, submission, polling, and the run's end.

Called by `pace.handlers.mlmodel.reconcile`. A queued run waits for a slot in the operator's
training queue (`pace.core.training_queue`, limit PACE_MAX_TRAINING_RUNS), is then compiled
(cached by spec hash) and submitted; a run in flight is polled; a lost run is submitted again
with backoff, at most `training_runs.MAX_ATTEMPTS` times. The end records the version (or the
failing step), frees the slot and, for a candidate that passed its gates, begins its rollout.
A finished local run's folder is removed once its version is recorded in status.
"""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import UTC, datetime
from typing import Any

import kopf

from pace.adapters import events, metrics, pipeline_backend
from pace.api.mlmodel import MLModel, TrainingRun
from pace.core import audit, naming, pipeline_plan, training_queue, training_runs
from pace.handlers import auditing, indexes, mlmodel_rollout, reconciler, reporting
from pace.handlers.reconciler import Context

POLL_SECONDS = 2.0
QUEUED_SECONDS = 30.0  # besides: a freed slot wakes the head of the queue at once
BACKLOG_PATIENCE = 120.0
"""How long a local run waits for the operator's backlog (objects not looked at yet) to clear
before it takes its slot anyway: local runs share the operator's CPUs, and a thousand objects
applied together get their first status before the runs start."""
POSITION_REFRESH_SECONDS = 60.0
"""A queued run's position is rewritten at most once a minute, once it moved by a tenth (and
at once near the head): `training_queue.position_worth_writing`."""


def queued_look_seconds(position: int | None, *, limit: int) -> float:
    """How soon a queued model looks at its place again: near the head (within two rounds of
    the limit, where a move is written at once) every QUEUED_SECONDS; further back no more
    often than its position may be rewritten (POSITION_REFRESH_SECONDS). With a thousand
    queued models looking every 30 s, the idle operator used 11 % of a core (8 % now), and the
    last tenth of a 40 s wave of objects (their first timers came due) a third more looks. A
    freed slot still wakes the heads at once."""
    if position is not None and position > 2 * limit:
        return POSITION_REFRESH_SECONDS
    return QUEUED_SECONDS


async def advance(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """One move of the latest run, if it needs one."""
    memo = ctx.memo
    run = model.status.training
    if memo.store is None or run is None:
        return
    queue = memo.training_queue
    queue.in_flight = functools.partial(indexes.in_flight, ctx.indexes)
    queue.queued = functools.partial(indexes.queued, ctx.indexes)
    if run.state == "Queued":
        await _queued(model, run, body, patch, ctx, now)
    elif run.state in ("Pending", "Running"):
        queue.adopt(model.uid)
        await _in_flight(model, run, body, patch, ctx, now)
    else:
        release_slot(memo, model.uid)
        if run.state == "Succeeded":
            await _clean_up(model, run, ctx)
    metrics.TRAINING_QUEUE.labels(state="queued").set(len(queue.waiting))
    metrics.TRAINING_QUEUE.labels(state="running").set(len(queue.occupied()))


def release_slot(memo: Any, uid: str) -> None:
    """Free ``uid``'s training slot (or its place in the queue); wake the new head."""
    _wake(memo, memo.training_queue.release(uid))
    memo.training_queue_keys.pop(uid, None)


def drop_queued(body: dict[str, Any], patch: kopf.Patch, memo: Any, *, now: datetime) -> None:
    """A queued run whose model's spec turned invalid would never be submitted, and would
    hold the head of the queue for good: it is marked Superseded and its place freed (a valid
    spec later queues a run of its own)."""
    stored = (body.get("status") or {}).get("training")
    if not stored or stored.get("state") != "Queued":
        return
    run = TrainingRun.model_validate(stored)
    dropped = training_runs.superseded(run, now=now).model_copy(
        update={"message": "The spec became invalid; this queued run was dropped."}
    )
    patch.status["training"] = dropped.to_patch()
    release_slot(memo, str(body["metadata"].get("uid", "")))


def wake_heads(memo: Any) -> None:
    """Wake the runs a free slot would admit now (the backlog they waited for cleared)."""
    _wake(memo, memo.training_queue.heads())


def _wake(memo: Any, uids: list[str]) -> None:
    for uid in uids:
        memo.wakers.wake(memo.training_queue_keys.get(uid, ("", "", "")))


def seconds_until_queued_look(model: MLModel, memo: Any) -> float | None:
    """For a queued run, `queued_look_seconds` at its written position; None for the rest."""
    run = model.status.training
    if run is None or run.state != "Queued":
        return None
    return queued_look_seconds(run.position, limit=memo.training_queue.limit)


def seconds_until_admission(model: MLModel, memo: Any) -> float | None:
    """For a queued local run that a free slot would admit but the backlog holds back:
    seconds until the backlog is clear (its quiet seconds after it emptied, or the rest of its
    patience; the backlog emptying wakes the run sooner). None for the other runs: a freed
    slot wakes the next head."""
    run = model.status.training
    if run is None or run.state != "Queued" or not _after_backlog(memo, model.uid):
        return None
    if model.uid not in memo.training_queue.heads():
        return None
    backlog: reconciler.Backlog = memo.wakers.backlog
    return max(0.5, backlog.seconds_left(patience=BACKLOG_PATIENCE))


def _after_backlog(memo: Any, uid: str) -> bool:
    """Whether ``uid``'s run, not yet admitted, waits for the backlog: local runs only (a
    cluster backend's runs use the cluster's CPUs, not the operator's)."""
    return (
        memo.backend.name == "local"
        and uid not in memo.training_queue.running
        and not memo.wakers.backlog.clear(patience=BACKLOG_PATIENCE)
    )


def place(model: MLModel, run: TrainingRun, ctx: Context) -> TrainingRun:
    """Put a new run in the queue; the run with its position (written with the run itself)."""
    memo = ctx.memo
    memo.training_queue.enqueue(
        model.uid,
        queued_at=run.started_at or datetime.now(UTC),
        key=f"{model.namespace}/{model.name}",
    )
    memo.training_queue_keys[model.uid] = ("mlmodels", model.namespace, model.name)
    ctx.scratch["position_written"] = time.monotonic()
    return run.model_copy(update={"position": memo.training_queue.position(model.uid)})


async def _queued(
    model: MLModel,
    run: TrainingRun,
    body: dict[str, Any],
    patch: kopf.Patch,
    ctx: Context,
    now: datetime,
) -> None:
    """Submit when the queue admits the run; otherwise keep its position in status."""
    memo = ctx.memo
    queue = memo.training_queue
    queued_at = run.started_at or now
    queue.enqueue(model.uid, queued_at=queued_at, key=f"{model.namespace}/{model.name}")
    memo.training_queue_keys[model.uid] = ("mlmodels", model.namespace, model.name)
    if not _after_backlog(memo, model.uid) and queue.admit(model.uid):
        # Its deletion must now wait for a cleanup (the run, its slot, later the serving
        # key): PACE's finalizer goes on first, as a move of its own; the slot stays this
        # model's meanwhile, and the next look submits.
        if reconciler.hold_deletion(body, patch):
            return
        submitted = run.model_copy(
            update={"state": "Pending", "position": None, "submitted_at": now}
        )
        await submit(model, submitted, memo)
        await auditing.append_for_model(
            memo,
            model,
            patch,
            [audit.run_started(submitted, serving=model.status.serving_version)],
            now=now,
        )
        patch.status["training"] = submitted.to_patch()
        _report(model, submitted, body, patch, now)
        return
    position = queue.position(model.uid)
    written = ctx.scratch.get("position_written", 0.0)
    if not training_queue.position_worth_writing(
        run.position,
        position,
        limit=queue.limit,
        seconds_since=time.monotonic() - written,
        refresh=POSITION_REFRESH_SECONDS,
    ):
        return
    ctx.scratch["position_written"] = time.monotonic()
    moved = run.model_copy(update={"position": position})
    patch.status["training"] = moved.to_patch()
    _report(model, moved, body, patch, now)


def _report(
    model: MLModel, run: TrainingRun, body: dict[str, Any], patch: kopf.Patch, now: datetime
) -> None:
    reporting.report_model(
        body=body,
        patch=patch,
        before=model.status.conditions,
        updates=[training_runs.training_condition(run, generation=model.generation, now=now)],
        generation=model.generation,
        post_events=False,
    )


def _request(model: MLModel, run: TrainingRun, memo: Any) -> pipeline_plan.RunRequest:
    return pipeline_plan.run_request(model, run, bucket=memo.store.bucket)


async def submit(model: MLModel, run: TrainingRun, memo: Any) -> None:
    """Compile (cached by spec hash), keep the IR in the store, submit (idempotent)."""
    ir_path, _cached = await asyncio.to_thread(
        pipeline_backend.compile_for_spec,
        spec_hash=run.spec_hash,
        parameters=pipeline_plan.spec_parameters(model.spec),
        cache_dir=memo.config.pipeline_dir / "compiled",
        steps=memo.backend.steps,
    )
    key = naming.pipeline_cache_key(run.spec_hash)
    if not await asyncio.to_thread(memo.store.exists, key):
        await asyncio.to_thread(
            memo.store.put, key, ir_path.read_bytes(), content_type="application/yaml"
        )
    request = _request(model, run, memo)
    await asyncio.to_thread(memo.backend.submit, request, ir_path, env=memo.s3.to_env())
    metrics.PIPELINE_RUNS.labels(
        namespace=model.namespace, model=model.name, result="submitted"
    ).inc()


async def cancel(model: MLModel, run: TrainingRun, ctx: Context) -> None:
    """Stop a run a newer spec replaced (queued: leave the queue; in flight: stop it)."""
    await stop(model, run, ctx.memo, result="superseded")


async def stop(model: MLModel, run: TrainingRun, memo: Any, *, result: str = "deleted") -> None:
    """Stop ``run`` if it is in flight, and free its slot (or its place in the queue)."""
    if run.state in ("Pending", "Running"):
        request = _request(model, run, memo)
        cancel_run = getattr(memo.backend, "cancel", None)
        if cancel_run is not None:
            await asyncio.to_thread(cancel_run, request)
        metrics.PIPELINE_RUNS.labels(
            namespace=model.namespace, model=model.name, result=result
        ).inc()
    release_slot(memo, model.uid)


async def _clean_up(model: MLModel, run: TrainingRun, ctx: Context) -> None:
    """Remove a finished local run's folder once its version is recorded (once per run)."""
    done = ctx.scratch.setdefault("cleaned", set())
    if run.run in done:
        return
    remove = getattr(ctx.memo.backend, "remove", None)
    if remove is not None:
        request = _request(model, run, ctx.memo)
        await asyncio.to_thread(remove, request)
    done.add(run.run)


async def _in_flight(
    model: MLModel,
    run: TrainingRun,
    body: dict[str, Any],
    patch: kopf.Patch,
    ctx: Context,
    now: datetime,
) -> None:
    """Poll the run; record its step, its version or its failure."""
    memo = ctx.memo
    generation = model.generation
    request = _request(model, run, memo)
    state = await asyncio.to_thread(memo.backend.status, request)
    if state.state in ("Lost", "NotFound"):
        await _lost(model, run, state, body, patch, ctx, now)
        return
    if state.state in ("Pending", "Running"):
        if (state.state, state.step) != (run.state, run.step):
            moved = run.model_copy(update={"state": state.state, "step": state.step})
            patch.status["training"] = moved.to_patch()
            _report(model, moved, body, patch, now)
        return
    if state.state == "Succeeded":
        key = naming.artifact_key(
            namespace=model.namespace,
            model=model.name,
            version=run.version,
            artifact="lineage",
            uid=model.uid,
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
        waiting = training_runs.retry_after_failure(
            run, failed_step=state.failed_step, message=state.message, now=now
        )
        if waiting is not None:
            await _retry(model, run, waiting, body, patch, ctx, now)
            return
        lineage = {}
        outcome = training_runs.failed(
            model.status,
            run,
            failed_step=state.failed_step,
            message=state.message,
            generation=generation,
            now=now,
        )
        result = "failed"
    await _finish(model, run, outcome, lineage, result, body, patch, ctx, now)


async def _retry(
    model: MLModel,
    run: TrainingRun,
    waiting: TrainingRun,
    body: dict[str, Any],
    patch: kopf.Patch,
    ctx: Context,
    now: datetime,
) -> None:
    """A run that failed transiently: say so once, then submit it again when its backoff
    is over (a new backend run; the version's keys are written once, so nothing doubles)."""
    if run.retry_at is None:
        patch.status["training"] = waiting.to_patch()
        events.warn(body, reason="TrainingRetrying", message=waiting.message or "")
        return
    if now < run.retry_at:
        return
    again = training_runs.retried(run, now=now)
    await submit(model, again, ctx.memo)
    patch.status["training"] = again.to_patch()


async def _lost(
    model: MLModel,
    run: TrainingRun,
    state: pipeline_backend.RunState,
    body: dict[str, Any],
    patch: kopf.Patch,
    ctx: Context,
    now: datetime,
) -> None:
    """Submit a lost run again after a backoff; past the attempt limit, fail it."""
    if run.attempts >= training_runs.MAX_ATTEMPTS:
        outcome = training_runs.lost(
            model.status, run, message=state.message, generation=model.generation, now=now
        )
        await _finish(model, run, outcome, {}, "failed", body, patch, ctx, now)
        return
    if not training_runs.resubmit_due(run, now=now):
        return
    again = run.model_copy(
        update={"attempts": run.attempts + 1, "state": "Pending", "submitted_at": now}
    )
    await submit(model, again, ctx.memo)
    patch.status["training"] = again.to_patch()
    events.warn(
        body,
        reason="TrainingResubmitted",
        message=f"Run {run.run} was lost ({state.message}); submitted again "
        f"(attempt {again.attempts} of {training_runs.MAX_ATTEMPTS}).",
    )


async def _finish(
    model: MLModel,
    run: TrainingRun,
    outcome: training_runs.RunOutcome,
    lineage: dict[str, Any],
    result: str,
    body: dict[str, Any],
    patch: kopf.Patch,
    ctx: Context,
    now: datetime,
) -> None:
    """Record the end of a run: audit, status, metrics; begin the rollout of a candidate."""
    memo = ctx.memo
    serving = model.status.serving_version
    if outcome.run.state == "Failed":
        events_ = [audit.run_failed(outcome.run, serving=serving)]
    else:
        events_ = [
            audit.version_registered(
                outcome.versions[-1], lineage.get("gates", {}), serving=serving, run=run.run
            )
        ]
    passed = outcome.candidate_version == run.version and outcome.run.state == "Succeeded"
    awaiting = passed and not run.auto_promote
    if awaiting:
        events_.append(audit.awaiting_promotion(run.version, serving=serving))
    await auditing.append_for_model(memo, model, patch, events_, now=now)
    metrics.PIPELINE_RUNS.labels(namespace=model.namespace, model=model.name, result=result).inc()
    patch.status["training"] = outcome.run.to_patch()
    patch.status["versions"] = [v.to_k8s() for v in outcome.versions]
    patch.status["candidateVersion"] = outcome.candidate_version
    after = reporting.report_model(
        body=body,
        patch=patch,
        before=model.status.conditions,
        updates=outcome.conditions,
        generation=model.generation,
    )
    if outcome.run.state == "Succeeded":
        for version in outcome.versions[-1:]:
            for name, value in version.metrics.items():
                metrics.MODEL_METRIC.labels(
                    namespace=model.namespace,
                    model=model.name,
                    version=version.version,
                    metric=name,
                ).set(value)
    if awaiting:
        events.info(
            body,
            reason="AwaitingPromotion",
            message=f"{run.version} passed its gates; autoPromote is false: run `pace promote "
            f"{model.name} -n {model.namespace}` to roll it out.",
        )
        return
    if passed:
        current = model.status.model_copy(
            update={
                "conditions": after,
                "versions": outcome.versions,
                "candidate_version": outcome.candidate_version,
            }
        )
        await mlmodel_rollout.begin(model, current, body=body, patch=patch, memo=memo, now=now)

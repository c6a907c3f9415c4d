"""The MLModel's batch step: scheduled batch scoring (``spec.batch``).

Called by `pace.handlers.mlmodel.reconcile`. One move per look:

1. a new or changed schedule writes ``status.batch`` with ``nextRunAt`` (the first schedule
   time after now: nothing is scored retroactively);
2. a run in flight is polled; when it ends, its report (`pace.batch_scoring`) is read from the
   store and shown — files and rows scored, files already scored, the failing files with
   their messages — with a ``BatchScored`` condition, an event and an audit event
   (``BatchScored`` or ``BatchFailed``) that says what was scored by which version;
3. at ``nextRunAt`` the scoring version is resolved (``serving`` or ``vN``) and the batch
   pipeline (`pace_components.batch_pipeline`) is submitted to the same backend as training,
   under a run name derived from the schedule time; submission is idempotent by that name,
   so an operator restarted before its status write finds the run instead of starting
   another. Schedule times missed while the
   operator was away are not caught up one by one: the next run scores everything new. A run
   whose worker went away (Lost) ends Failed; it is not resubmitted, since the next scheduled
   run scores whatever it left.

Batch runs are not counted by the training queue (they load one model and stream files).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import kopf

from pace.adapters import events, metrics, pipeline_backend
from pace.api.conditions import Condition, ConditionType
from pace.api.mlmodel import BatchFailure, BatchRun, BatchStatus, MLModel
from pace.core import audit, batch, pipeline_plan, status
from pace.handlers import auditing, reporting
from pace.handlers.reconciler import Context

BATCH_SCORED = ConditionType.BATCH_SCORED


def seconds_until_due(model: MLModel, *, now: datetime) -> float | None:
    """When to look again for batch scoring (None: no batch spec)."""
    current = model.status.batch
    if model.spec.batch is None or current is None:
        return None
    if batch.in_flight(current) is not None:
        return batch.POLL_SECONDS
    return max(0.0, (current.next_run_at - now).total_seconds())


def _request(model: MLModel, run: BatchRun, ctx: Context) -> pipeline_plan.BatchRequest:
    return pipeline_plan.batch_request(
        model, run_name=run.run or "", version=run.version or "", bucket=ctx.memo.store.bucket
    )


def _patch(patch: kopf.Patch, current: BatchStatus, **changes: Any) -> None:
    patch.status["batch"] = current.model_copy(update=changes).to_k8s()


async def advance(
    model: MLModel, body: dict[str, Any], patch: kopf.Patch, ctx: Context, now: datetime
) -> None:
    """One batch move (see the module docstring)."""
    if model.spec.batch is None or ctx.memo.store is None or ctx.memo.backend is None:
        return
    fresh = batch.fresh_status(model, now=now)
    if fresh is not None:
        patch.status["batch"] = fresh.to_k8s()
        return
    current = model.status.batch
    assert current is not None
    running = batch.in_flight(current)
    if running is not None:
        await _follow(model, current, running, body, patch, ctx, now)
    elif now >= current.next_run_at:
        await _start(model, current, body, patch, ctx, now)


async def _start(
    model: MLModel,
    current: BatchStatus,
    body: dict[str, Any],
    patch: kopf.Patch,
    ctx: Context,
    now: datetime,
) -> None:
    assert model.spec.batch is not None
    scheduled = current.next_run_at
    following = batch.next_run(model.spec.batch.schedule, max(now, scheduled))
    version, why = batch.scoring_version(model)
    if version is None:
        skipped = BatchRun(state="Skipped", scheduled_at=scheduled, finished_at=now, message=why)
        _patch(patch, current, next_run_at=following, last=skipped)
        events.warn(body, reason="BatchSkipped", message=f"Batch scoring skipped: {why}.")
        metrics.BATCH_RUNS.labels(model.namespace, model.name, "skipped").inc()
        return
    run = BatchRun(
        run=batch.run_name(model, scheduled),
        state="Pending",
        version=version,
        scheduled_at=scheduled,
        started_at=now,
        message=f"scoring new files under {model.spec.batch.input} with {version}",
    )
    memo = ctx.memo
    ir_path = await asyncio.to_thread(
        pipeline_backend.compile_batch,
        cache_dir=memo.config.pipeline_dir / "compiled",
        steps=memo.backend.steps,
    )
    await asyncio.to_thread(
        memo.backend.submit, _request(model, run, ctx), ir_path, env=memo.s3.to_env()
    )
    _patch(patch, current, next_run_at=following, last=run)
    metrics.BATCH_RUNS.labels(model.namespace, model.name, "submitted").inc()


async def _follow(
    model: MLModel,
    current: BatchStatus,
    run: BatchRun,
    body: dict[str, Any],
    patch: kopf.Patch,
    ctx: Context,
    now: datetime,
) -> None:
    memo = ctx.memo
    request = _request(model, run, ctx)
    state = await asyncio.to_thread(memo.backend.status, request)
    if state.state in ("Pending", "Running"):
        if state.state != run.state:
            _patch(patch, current, last=run.model_copy(update={"state": state.state}))
        return
    if state.state == "Succeeded":
        key = batch.report_key(model.namespace, model.name, model.uid, request.run_name)
        report: dict[str, Any] = await asyncio.to_thread(memo.store.get_json, key)
        ended = _succeeded(run, report, uri=memo.store.uri(key), now=now)
    else:  # Failed, or Lost/NotFound (its worker went away): the next run scores what is left
        why = state.message or f"the run is {state.state}"
        ended = run.model_copy(
            update={
                "state": "Failed",
                "finished_at": now,
                "failed_step": state.failed_step,
                "message": f"step {state.failed_step!r} failed: {why}"
                if state.failed_step
                else f"{why} ({state.state})",
            }
        )
    metrics.BATCH_RUNS.labels(model.namespace, model.name, ended.state.lower()).inc()
    if ended.rows_scored:
        metrics.BATCH_ROWS.labels(model.namespace, model.name, ended.version or "").inc(
            ended.rows_scored
        )
    if ended.failures:
        metrics.BATCH_FILES_FAILED.labels(model.namespace, model.name).inc(len(ended.failures))
    event = _audit_event(model, ended)
    await auditing.append_for_model(memo, model, patch, [event], now=now)
    _patch(patch, current, last=ended)
    reporting.show_model_condition(model, body, patch, _condition(model, ended, now=now))
    if event.type == "BatchScored" and not ended.failures:
        events.info(body, reason="BatchScored", message=event.message)
    else:
        events.warn(body, reason=event.type, message=event.message)
    remove = getattr(memo.backend, "remove", None)
    if remove is not None:
        await asyncio.to_thread(remove, request)


def _succeeded(run: BatchRun, report: dict[str, Any], *, uri: str, now: datetime) -> BatchRun:
    failures = [BatchFailure(file=f["file"], message=f["message"]) for f in report["failures"]]
    return run.model_copy(
        update={
            "state": "Succeeded",
            "finished_at": now,
            "files_scored": int(report["filesScored"]),
            "files_skipped": int(report["filesSkipped"]),
            "rows_scored": int(report["rowsScored"]),
            "failures": failures[: batch.MAX_FAILURES],
            "message": batch.summary(report),
            "report": uri,
        }
    )


def _audit_event(model: MLModel, run: BatchRun) -> audit.AuditEvent:
    details = {
        "run": run.run,
        "scheduledAt": run.scheduled_at.isoformat(),
        "filesScored": run.files_scored,
        "rowsScored": run.rows_scored,
        "filesSkipped": run.files_skipped,
        "failures": [f.to_k8s() for f in run.failures],
        "report": run.report,
    }
    if run.state == "Succeeded":
        return audit.AuditEvent(
            type="BatchScored",
            message=f"Batch run {run.run}: {run.message}.",
            version=run.version,
            serving=model.status.serving_version,
            details=details,
        )
    return audit.AuditEvent(
        type="BatchFailed",
        message=f"Batch run {run.run} failed: {run.message}",
        version=run.version,
        serving=model.status.serving_version,
        details=details,
    )


def _condition(model: MLModel, run: BatchRun, *, now: datetime) -> Condition:
    if run.state == "Succeeded" and not run.failures:
        return status.condition(
            BATCH_SCORED, "True", "Scored", run.message or "", generation=model.generation, now=now
        )
    if run.state == "Succeeded":
        files = "; ".join(f"{f.file}: {f.message}" for f in run.failures[:3])
        return status.condition(
            BATCH_SCORED,
            "False",
            "FilesFailed",
            f"{run.message}: {files}",
            generation=model.generation,
            now=now,
        )
    return status.condition(
        BATCH_SCORED, "False", "RunFailed", run.message or "", generation=model.generation, now=now
    )

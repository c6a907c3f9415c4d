"""The audit trail of a model (pure): what happened, to which version, and what served after.

Every event is one write-once JSON object in the object store under
``audit/<namespace>/<model>/<source>/<seq>-<type>.json``. ``source`` is the writer (``mlmodel``
or ``retrainpolicy-<name>``) and ``seq`` that writer's counter kept in its status, so an
operator restarted before its status patch landed recomputes the same key and the write-once
put finds the event already there: no duplicates, nothing lost. `pace history` reads them all
back and orders them by time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pace.api.mlmodel import TrainingRun, VersionRecord

PREFIX = "audit"


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened to a model."""

    type: str  # CamelCase, e.g. RetrainTriggered, VersionRegistered, Promoted
    message: str
    version: str | None = None  # the version it concerns
    serving: str | None = None  # the version serving once it happened
    details: dict[str, Any] = field(default_factory=dict)


def model_prefix(namespace: str, model: str) -> str:
    return f"{PREFIX}/{namespace}/{model}/"


def model_source(uid: str) -> str:
    """The MLModel object's own events (by uid: a model recreated under the same name numbers
    its events afresh without touching the old ones)."""
    return f"mlmodel-{uid[:8]}"


def policy_source(policy: str, uid: str) -> str:
    return f"retrainpolicy-{policy}-{uid[:8]}"


def key(namespace: str, model: str, *, source: str, seq: int, type_: str) -> str:
    """Object key of the ``seq``-th event of ``source`` (sortable per source)."""
    return f"{model_prefix(namespace, model)}{source}/{seq:08d}-{type_}.json"


def record(
    event: AuditEvent, *, namespace: str, model: str, source: str, seq: int, time: datetime
) -> dict[str, Any]:
    """The JSON stored for one event."""
    return {
        "time": time.isoformat(),
        "namespace": namespace,
        "model": model,
        "source": source,
        "seq": seq,
        "type": event.type,
        "version": event.version,
        "serving": event.serving,
        "message": event.message,
        "details": event.details,
    }


def run_started(run: TrainingRun, *, serving: str | None) -> AuditEvent:
    return AuditEvent(
        type="TrainingStarted",
        message=f"Pipeline run {run.run} started for {run.version} (trigger: {run.trigger}).",
        version=run.version,
        serving=serving,
        details={
            "run": run.run,
            "trigger": run.trigger,
            "request": run.request,
            "autoPromote": run.auto_promote,
            "specHash": run.spec_hash,
        },
    )


def version_registered(
    record_: VersionRecord, gates: dict[str, Any], *, serving: str | None, run: str
) -> AuditEvent:
    """The gate result of a registered version: a candidate, or rejected and why."""
    passed = bool(gates.get("passed", False))
    failures = list(gates.get("failures", []))
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(record_.metrics.items())[:4])
    if passed:
        message = f"{record_.version} registered and passed every quality gate ({metrics})."
        if record_.data_note:
            message += f" Data: {record_.data_note}."
    else:
        message = (
            f"{record_.version} registered and rejected by its quality gates: "
            + ("; ".join(failures) or "a gate failed")
            + f" ({metrics})."
        )
    return AuditEvent(
        type="GatesPassed" if passed else "GateFailed",
        message=message,
        version=record_.version,
        serving=serving,
        details={
            "run": run,
            "trigger": record_.trigger,
            "metrics": dict(record_.metrics),
            "gates": gates,
            "dataHash": record_.data_hash,
            "artifact": record_.artifact_uri,
            "data": record_.data_note,
            "recentRows": record_.recent_rows,
        },
    )


def run_failed(run: TrainingRun, *, serving: str | None) -> AuditEvent:
    return AuditEvent(
        type="TrainingFailed",
        message=run.message or f"Pipeline run {run.run} failed.",
        version=run.version,
        serving=serving,
        details={"run": run.run, "failedStep": run.failed_step, "trigger": run.trigger},
    )


def awaiting_promotion(version: str, *, serving: str | None) -> AuditEvent:
    return AuditEvent(
        type="AwaitingPromotion",
        message=f"{version} passed its gates; autoPromote is false, waiting for `pace promote`.",
        version=version,
        serving=serving,
    )


def rollout_event(
    reason: str,
    message: str,
    *,
    version: str | None,
    serving: str | None,
    weight: int | None,
) -> AuditEvent:
    """A canary step, promotion or rollback (the rollout's own event reason is the type)."""
    details: dict[str, Any] = {} if weight is None else {"canaryWeight": weight}
    return AuditEvent(
        type=reason, message=message, version=version, serving=serving, details=details
    )


def retrain_triggered(
    *, policy: str, reason: str, request: str, serving: str | None, auto_promote: bool
) -> AuditEvent:
    return AuditEvent(
        type="RetrainTriggered",
        message=f"RetrainPolicy {policy} fired: {reason}",
        serving=serving,
        details={
            "policy": policy,
            "reason": reason,
            "request": request,
            "autoPromote": auto_promote,
        },
    )


def ordered(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records by time, then source and sequence (stable for equal times)."""
    return sorted(records, key=lambda r: (r["time"], r["source"], r["seq"]))


HISTORY_COLUMNS = ("TIME", "EVENT", "VERSION", "SERVING", "MESSAGE")


def history_rows(records: Sequence[dict[str, Any]], *, width: int = 100) -> list[list[str]]:
    """Table rows for `pace history`, oldest first; long messages are cut to ``width``."""
    rows = []
    for r in ordered(records):
        message = str(r.get("message", ""))
        if len(message) > width:
            message = message[: width - 3] + "..."
        rows.append(
            [
                str(r["time"])[:19].replace("T", " "),
                str(r["type"]),
                str(r.get("version") or "-"),
                str(r.get("serving") or "-"),
                message,
            ]
        )
    return rows

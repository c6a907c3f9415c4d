"""The DriftMonitor reconcile: parse the spec, check the model reference, then check for drift
every interval (`pace.handlers.drift_check`).

Registered with `pace.handlers.reconciler` (one daemon per monitor, conditional writes). The
model is looked up in kopf's index, and the model's changes wake the monitor, so a monitor
whose model does not exist yet, or does not serve yet, makes no request until it does.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from pace.api import constants
from pace.api.drift_monitor import DriftMonitor
from pace.core import merge_patch, spec_checks, uri_policy
from pace.handlers import drift_check, indexes, reconciler, reporting
from pace.handlers.reconciler import Context

KIND = constants.DRIFT_MONITOR_KIND


async def reconcile(body: dict[str, Any], patch: kopf.Patch, ctx: Context) -> float | None:
    """References first; then a drift check when one is due."""
    now = datetime.now(UTC)
    try:
        monitor = DriftMonitor.from_body(body)
    except pydantic.ValidationError as exc:
        reporting.report_invalid_spec(kind=KIND, body=body, patch=patch, exc=exc, now=now)
        return None
    # What no check could carry out: nothing is checked until the spec is fixed.
    unworkable = spec_checks.drift_monitor_problems(monitor.spec) + (
        uri_policy.drift_monitor_problems(
            monitor.spec, monitor.namespace, ctx.memo.config.read_policy
        )
    )
    refs: list[reporting.Ref] = [
        (
            constants.MLMODEL_PLURAL,
            constants.MLMODEL_KIND,
            monitor.spec.model_ref.name,
            "spec.modelRef",
        )
    ]
    invalid = spec_checks.message(unworkable) if unworkable else None
    wait, seen = await reporting.look_up_references(
        body=body,
        found=ctx.indexes,
        refs=refs,
        now=now,
        invalid=invalid,
        kube=ctx.memo.kube,
        remembered=ctx.scratch,
        seen_at=ctx.seen_at,
    )
    if wait is not None:
        return wait  # applied with its model, which does not exist yet: waits quietly
    ctx = dataclasses.replace(ctx, indexes=seen)
    found, moved = reporting.references_move(
        kind=KIND,
        body=body,
        found=ctx.indexes,
        refs=refs,
        ready_message="Watching the model.",
        now=now,
        invalid=invalid,
    )
    if moved:
        patch.update(moved)
        if not found or unworkable:
            return 0.0
        # Found: the first check's verdict (often "no serving version yet") goes out in the
        # same write, from the object as that write leaves it.
        body = merge_patch.apply(body, dict(moved))
        monitor = DriftMonitor.from_body(body)
    if not found or unworkable:
        return None  # the model's creation (or a spec change) wakes the monitor
    return await drift_check.check(monitor, body, patch, ctx, now)


def dependents(body: dict[str, Any], found: dict[str, Any]) -> list[reconciler.Key]:
    """A monitor's verdict concerns its model (DriftDetected) and the policies using it."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    model = ((body.get("spec") or {}).get("modelRef") or {}).get("name")
    keys: list[reconciler.Key] = [(constants.MLMODEL_PLURAL, namespace, model)] if model else []
    keys += [
        (constants.RETRAIN_POLICY_PLURAL, namespace, policy)
        for policy in indexes.names(found, indexes.POLICIES_BY_TARGET, (namespace, "monitor", name))
    ]
    return keys


reconciler.register(
    kind=KIND, plural=constants.DRIFT_MONITOR_PLURAL, reconcile=reconcile, dependents=dependents
)

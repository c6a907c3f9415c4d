"""DriftMonitor handlers: parse the spec, check the model reference, report conditions."""

from __future__ import annotations

from typing import Any

import kopf

from pace.api import constants
from pace.api.drift_monitor import DriftMonitor
from pace.handlers import reporting

KIND = constants.DRIFT_MONITOR_KIND
_RECHECK_SECONDS = 30.0


def _refs(monitor: DriftMonitor) -> list[tuple[str, str, str, str]]:
    return [
        (
            constants.MLMODEL_PLURAL,
            constants.MLMODEL_KIND,
            monitor.spec.model_ref.name,
            "spec.modelRef",
        )
    ]


@kopf.on.resume(constants.GROUP, constants.VERSION, constants.DRIFT_MONITOR_PLURAL)
@kopf.on.create(constants.GROUP, constants.VERSION, constants.DRIFT_MONITOR_PLURAL)
@kopf.on.update(constants.GROUP, constants.VERSION, constants.DRIFT_MONITOR_PLURAL)
@reporting.instrumented(KIND)
async def reconcile_drift_monitor(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **_: Any
) -> None:
    """Accept the spec; say whether the watched model exists (retry with backoff if not)."""
    monitor = DriftMonitor.from_body(body)
    await reporting.reconcile_references(
        kind=KIND,
        body=body,
        patch=patch,
        memo=memo,
        refs=_refs(monitor),
        retry=retry,
        ready_message="Watching the model.",
        raise_on_missing=True,
    )


@kopf.timer(
    constants.GROUP,
    constants.VERSION,
    constants.DRIFT_MONITOR_PLURAL,
    interval=_RECHECK_SECONDS,
    initial_delay=_RECHECK_SECONDS,
)
@reporting.instrumented(KIND)
async def recheck_drift_monitor_refs(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    """Notice a model deleted or created after the monitor was accepted."""
    monitor = DriftMonitor.from_body(body)
    await reporting.reconcile_references(
        kind=KIND,
        body=body,
        patch=patch,
        memo=memo,
        refs=_refs(monitor),
        retry=0,
        ready_message="Watching the model.",
        raise_on_missing=False,
    )

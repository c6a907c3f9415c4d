"""What several tests of the reconcile loop and the training queue share: kopf's daemon
stopper, an MLModel whose run waits in the training queue, and a DriftMonitor's status with
drift found."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from pace.api import constants

NS = "ns"
EARLY = datetime(2026, 1, 1, tzinfo=UTC)
IRIS = {"task": "classification", "dataset": {"uri": "sklearn://iris", "target": "y"}}
DRIFTED = {  # a DriftMonitor's status with drift found
    "conditions": [
        {
            "type": "DriftDetected",
            "status": "True",
            "reason": "Drift",
            "message": "drift",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
    ]
}


class Stopper:
    """What kopf hands a daemon as ``stopped``: falsy until set."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


def queued_model(
    name: str = "a", uid: str = "ua", *, spec: dict[str, Any] | None = None, generation: int = 1
) -> dict[str, Any]:
    """An MLModel (in namespace NS) whose first run is Queued at the head, since EARLY."""
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.MLMODEL_KIND,
        "metadata": {"name": name, "namespace": NS, "uid": uid, "generation": generation},
        "spec": spec if spec is not None else dict(IRIS),
        "status": {
            "observedGeneration": 1,
            "training": {
                "run": f"{name}-v1",
                "version": "v1",
                "specHash": "h",
                "trigger": "create",
                "backend": "local",
                "state": "Queued",
                "position": 1,
                "startedAt": EARLY.isoformat(),
            },
        },
    }

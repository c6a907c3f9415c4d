"""DriftMonitor spec handlers: parse the spec, check the model reference, report conditions.

The drift checks themselves are in `pace.handlers.drift_check`.
"""

from __future__ import annotations

from typing import Any

from pace.api import constants
from pace.api.drift_monitor import DriftMonitor
from pace.handlers import reporting

KIND = constants.DRIFT_MONITOR_KIND


def references(body: Any) -> list[tuple[str, str, str, str]]:
    """The MLModel a monitor watches."""
    monitor = DriftMonitor.from_body(body)
    return [
        (
            constants.MLMODEL_PLURAL,
            constants.MLMODEL_KIND,
            monitor.spec.model_ref.name,
            "spec.modelRef",
        )
    ]


reporting.watch_references(
    plural=constants.DRIFT_MONITOR_PLURAL,
    kind=KIND,
    refs=references,
    ready_message="Watching the model.",
)

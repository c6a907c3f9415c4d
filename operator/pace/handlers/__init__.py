"""kopf wiring (layer 3b): importing this package registers every handler.

`python -m pace` runs ``kopf run -m pace.handlers``. One module per kind, plus lifecycle.
"""

from pace.handlers import (
    drift_check,
    drift_monitor,
    lifecycle,
    mlmodel,
    mlmodel_drift,
    mlmodel_rollout,
    retrain_policy,
)

__all__ = [
    "drift_check",
    "drift_monitor",
    "lifecycle",
    "mlmodel",
    "mlmodel_drift",
    "mlmodel_rollout",
    "retrain_policy",
]

"""kopf wiring (layer 3b): importing this package registers every handler.

`python -m pace` runs ``kopf run -m pace.handlers``. One reconcile module per kind (run by
`reconciler`, one daemon per object), the indexes they read, and lifecycle.
"""

from pace.handlers import (
    drift_check,
    drift_monitor,
    indexes,
    lifecycle,
    mlmodel,
    mlmodel_drift,
    mlmodel_rollout,
    mlmodel_training,
    reconciler,
    retrain_policy,
)

__all__ = [
    "drift_check",
    "drift_monitor",
    "indexes",
    "lifecycle",
    "mlmodel",
    "mlmodel_drift",
    "mlmodel_rollout",
    "mlmodel_training",
    "reconciler",
    "retrain_policy",
]

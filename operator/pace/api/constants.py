"""Names of PACE's API: group, version, kinds, plurals, finalizer and annotation prefix.

Imported by every layer; the one place where these strings are spelled.
"""

from typing import Final

GROUP: Final = "mlops.pace.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
CATEGORY: Final = "pace"

MLMODEL_KIND: Final = "MLModel"
MLMODEL_PLURAL: Final = "mlmodels"
RETRAIN_POLICY_KIND: Final = "RetrainPolicy"
RETRAIN_POLICY_PLURAL: Final = "retrainpolicies"
DRIFT_MONITOR_KIND: Final = "DriftMonitor"
DRIFT_MONITOR_PLURAL: Final = "driftmonitors"

ANNOTATION_PREFIX: Final = GROUP
FINALIZER: Final = f"{GROUP}/finalizer"
KOPF_FINALIZER: Final = f"{GROUP}/kopf-finalizer"  # configured for kopf, never put on
LABEL_MODEL: Final = f"{GROUP}/model"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGER_NAME: Final = "pace-operator"

"""Labels and owner references for objects PACE creates (pure)."""

from __future__ import annotations

from typing import Any

from pace.api import constants


def owner_reference(
    *, kind: str, name: str, uid: str, controller: bool = True, block_owner_deletion: bool = True
) -> dict[str, Any]:
    """An ownerReference to one of our objects, so Kubernetes garbage-collects children."""
    return {
        "apiVersion": constants.API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


def model_labels(model_name: str) -> dict[str, str]:
    """Labels on every object PACE creates for a model."""
    return {constants.LABEL_MODEL: model_name, constants.LABEL_MANAGED_BY: constants.MANAGER_NAME}

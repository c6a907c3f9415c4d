"""A reference missing from the operator's indexes is looked up in the real API server before
it is reported: an object the API server has (its watch event not processed yet) is found."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pace.adapters import kube_api
from pace.api import constants
from pace.handlers import indexes, reporting
from tests.servers.kube_apiserver import Cluster

REFS = [(constants.MLMODEL_PLURAL, constants.MLMODEL_KIND, "wine", "spec.modelRef")]
EMPTY: dict[str, Any] = {indexes.MLMODELS: {}}
MODEL = {
    "apiVersion": constants.API_VERSION,
    "kind": constants.MLMODEL_KIND,
    "metadata": {"name": "wine"},
    "spec": {"task": "classification", "dataset": {"uri": "sklearn://wine", "target": "target"}},
}
NOT_FOUND = {
    "type": "ModelFound",
    "status": "False",
    "reason": "ModelNotFound",
    "message": "MLModel 'wine' (spec.modelRef) not found",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}


def _monitor(namespace: str, created: datetime, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {
            "name": "watcher",
            "namespace": namespace,
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    }
    if status:
        body["status"] = status
    return body


def test_a_reference_is_looked_up_before_it_is_called_missing(
    kube_cluster: Cluster, namespace: str
) -> None:
    kube = kube_api.KubeApi(kube_api.load_client(kube_cluster.kubeconfig))
    now = datetime.now(UTC)
    old, new = now - timedelta(minutes=5), now - timedelta(seconds=2)

    async def look(body: dict[str, Any]) -> tuple[float | None, dict[str, Any]]:
        return await reporting.look_up_references(
            body=body, found=EMPTY, refs=REFS, now=now, invalid=None, kube=kube
        )

    async def exercise() -> dict[str, Any]:
        try:
            results: dict[str, Any] = {}
            results["old, absent"] = await look(_monitor(namespace, old))
            results["new, absent"] = await look(_monitor(namespace, new))
            kube_cluster.custom.create_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, MODEL
            )
            results["new, present"] = await look(_monitor(namespace, new))
            results["old, present"] = await look(_monitor(namespace, old))
            results["reported"] = await look(_monitor(namespace, old, conditions=[NOT_FOUND]))
            # A loop remembers what it read for the looks that follow (the watch still behind):
            # the model's deletion in between is not asked about again within LOOKED_UP_TTL.
            scratch: dict[Any, Any] = {}
            remembering: dict[str, Any] = {
                "found": EMPTY,
                "refs": REFS,
                "now": now,
                "invalid": None,
            }
            first = await reporting.look_up_references(
                body=_monitor(namespace, old), kube=kube, remembered=scratch, **remembering
            )
            kube_cluster.custom.delete_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, "wine"
            )
            again = await reporting.look_up_references(
                body=_monitor(namespace, old), kube=kube, remembered=scratch, **remembering
            )
            fresh = await reporting.look_up_references(
                body=_monitor(namespace, old), kube=kube, remembered={}, **remembering
            )
            # Once the index has it, nothing is kept for it any more.
            indexed = {indexes.MLMODELS: {(namespace, "wine"): [{"metadata": {"name": "wine"}}]}}
            await reporting.look_up_references(
                body=_monitor(namespace, old),
                kube=kube,
                remembered=scratch,
                **{**remembering, "found": indexed},
            )
            results["remembered"] = (first, again, fresh, dict(scratch[reporting.LOOKED_UP]))
            return results
        finally:
            await kube.aio.close()

    results = asyncio.run(exercise())
    key = (namespace, "wine")
    # Missing in the API server too: reported now; by a new object, after its grace.
    wait, seen = results["old, absent"]
    assert wait is None
    assert indexes.one(seen, indexes.MLMODELS, key) is None
    wait, _ = results["new, absent"]
    assert wait is not None
    assert 7 <= wait <= reporting.REFERENCE_GRACE
    # A new object waits for the watch to bring it, even when the API server has it: no
    # request (the model's arrival wakes the monitor).
    wait, seen = results["new, present"]
    assert wait is not None
    assert indexes.one(seen, indexes.MLMODELS, key) is None
    # Past its grace, the API server has it: found, as the index would keep it.
    wait, seen = results["old, present"]
    assert wait is None
    model = indexes.one(seen, indexes.MLMODELS, key)
    assert model is not None
    assert model["spec"]["dataset"]["uri"] == "sklearn://wine"
    assert "managedFields" not in model["metadata"]
    # Already shown missing: no request (the model's watch event wakes the monitor later).
    wait, seen = results["reported"]
    assert wait is None
    assert indexes.one(seen, indexes.MLMODELS, key) is None
    first, again, fresh, kept_after = results["remembered"]
    assert indexes.one(first[1], indexes.MLMODELS, key) is not None
    assert indexes.one(again[1], indexes.MLMODELS, key) is not None  # no second request
    assert indexes.one(fresh[1], indexes.MLMODELS, key) is None  # asked: it is gone
    assert kept_after == {}

"""A new object's first look does not wait on a watch that runs behind: when kopf's finalizer
has not shown in the watch within FINALIZER_WAIT, the object is read from the real API server
and the first look starts from that, so its first write is not refused (409)."""

from __future__ import annotations

import asyncio
import copy
import time
import types
from typing import Any

import kopf

from pace.adapters import kube_api
from pace.api import constants
from pace.handlers import reconciler
from tests.servers.kube_apiserver import Cluster


def test_the_first_look_reads_the_object_when_the_watch_lags(
    kube_cluster: Cluster, namespace: str
) -> None:
    created = kube_cluster.custom.create_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.MLMODEL_PLURAL,
        {
            "apiVersion": constants.API_VERSION,
            "kind": constants.MLMODEL_KIND,
            "metadata": {"name": "m"},
            "spec": {
                "task": "classification",
                "dataset": {"uri": "sklearn://iris", "target": "y"},
            },
        },
    )
    as_watched = copy.deepcopy(created)  # what a lagging watch still shows: no finalizer
    # kopf's finalizer lands in the API server.
    kube_cluster.custom.patch_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.MLMODEL_PLURAL,
        "m",
        {"metadata": {"finalizers": [constants.FINALIZER]}},
    )
    kube = kube_api.KubeApi(kube_api.load_client(kube_cluster.kubeconfig))
    key = (constants.MLMODEL_PLURAL, namespace, "m")

    async def first_look() -> tuple[bool, float, dict[str, Any], dict[str, Any] | None]:
        memo = types.SimpleNamespace(kube=kube, wakers=reconciler.Wakers())
        memo.wakers.event(key)
        snapshots = reconciler.Snapshots()
        body = kopf.Body(as_watched)
        started = time.monotonic()
        try:
            # (not stopped: kopf hands a flag that is falsy until set)
            seen = await reconciler._finalizer_seen(
                body, key, created["metadata"]["uid"], snapshots, memo, False
            )
            snapshot = snapshots.take(reconciler._raw(body))
            # The first write, at the version the look read: accepted.
            stored = await reconciler.write(
                kube, constants.MLMODEL_PLURAL, snapshot, {"status": {"phase": "Pending"}}
            )
        finally:
            await kube.aio.close()
        return seen, time.monotonic() - started, snapshot, stored

    seen, waited, snapshot, stored = asyncio.run(first_look())
    assert seen
    assert waited < 5  # not the watch's lag
    assert snapshot["metadata"]["finalizers"] == [constants.FINALIZER]
    assert stored is not None
    assert stored["status"]["phase"] == "Pending"

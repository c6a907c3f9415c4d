"""The MLModel reconcile run concurrently with itself and with other status writers, against
the real API server: every write is conditional on the resourceVersion it read, so no update
is lost — a reconcile that read a stale object gets 409, reads again and decides again.

Evidence for the design: with the writes made unconditional (the old handlers' plain merge
patches), this test loses the writers' conditions (see the closing note of issue 10).
"""

from __future__ import annotations

import asyncio
import random
import types
from typing import Any

import kopf

from pace.adapters import events, kube_api
from pace.api import constants
from pace.config import OperatorConfig
from pace.handlers import indexes, mlmodel, reconciler
from tests.servers.kube_apiserver import Cluster
from tests.unit.loop_support import DRIFTED

WRITERS = 12
RECONCILERS = 4
MONITOR = "watcher"


def _model(name: str) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.MLMODEL_KIND,
        "metadata": {"name": name},
        "spec": {"task": "classification", "dataset": {"uri": "sklearn://iris", "target": "y"}},
    }


def _context(kube: kube_api.KubeApi, namespace: str, model: str) -> reconciler.Context:
    """No object store (nothing trains); one DriftMonitor reporting drift, in the indexes."""
    monitor = {
        "metadata": {"name": MONITOR, "namespace": namespace},
        "spec": {"modelRef": {"name": model}, "source": {}, "reference": {}},
        "status": DRIFTED,
    }
    found = {
        indexes.MONITORS_BY_MODEL: {(namespace, model): [MONITOR]},
        indexes.MONITORS: {(namespace, MONITOR): [monitor]},
    }
    memo = types.SimpleNamespace(
        store=None, kube=kube, reconcile_slots=asyncio.Semaphore(8), config=OperatorConfig()
    )
    return reconciler.Context(memo=memo, indexes=found, logger=None, wakers=reconciler.Wakers())


async def _slow_reconcile(
    body: dict[str, Any], patch: kopf.Patch, ctx: reconciler.Context
) -> float | None:
    """The real reconcile, with time between its read and its write for others to write."""
    requeue = await mlmodel.reconcile(body, patch, ctx)
    await asyncio.sleep(random.uniform(0.01, 0.08))
    return requeue


async def _reconcile_until_quiet(
    kube: kube_api.KubeApi,
    namespace: str,
    name: str,
    ctx: reconciler.Context,
    stats: dict[str, int],
    posted: list[str],
) -> None:
    """Read, decide, write conditionally; on conflict read again; until nothing changes."""
    plural = constants.MLMODEL_PLURAL
    for _ in range(100):
        snapshot = await kube.aget_object(plural, namespace, name)
        assert snapshot is not None
        patch = kopf.Patch()
        with events.deferred() as held:  # posted (here: kept) only once the write landed
            await _slow_reconcile(snapshot, patch, ctx)
            try:
                stored = await reconciler.write(kube, plural, snapshot, dict(patch))
            except kube_api.Conflict:
                stats["conflicts"] += 1
                continue
        if stored is None:
            return
        stats["writes"] += 1
        posted.extend(reason for _body, _type, reason, _message in held)
    raise AssertionError("the reconcile never settled")


async def _add_condition(
    kube: kube_api.KubeApi, namespace: str, name: str, index: int, stats: dict[str, int]
) -> None:
    """Another status writer: read-modify-write of the conditions list, conditional too."""
    plural = constants.MLMODEL_PLURAL
    await asyncio.sleep(random.uniform(0, 0.3))
    while True:
        snapshot = await kube.aget_object(plural, namespace, name)
        assert snapshot is not None
        conds = list((snapshot.get("status") or {}).get("conditions") or [])
        conds.append(
            {
                "type": f"Extra{index}",
                "status": "True",
                "reason": "Test",
                "message": f"writer {index}",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        )
        try:
            await reconciler.write(kube, plural, snapshot, {"status": {"conditions": conds}})
            return
        except kube_api.Conflict:
            stats["writer_conflicts"] += 1


def test_concurrent_reconciles_and_writers_lose_no_update(
    kube_cluster: Cluster, namespace: str
) -> None:
    name = "contended"
    kube_cluster.custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, _model(name)
    )
    kube = kube_api.KubeApi(kube_api.load_client(kube_cluster.kubeconfig))
    ctx = _context(kube, namespace, name)
    stats = {"conflicts": 0, "writes": 0, "writer_conflicts": 0}
    posted: list[str] = []
    random.seed(10)

    async def contend() -> None:
        await asyncio.gather(
            *(
                _reconcile_until_quiet(kube, namespace, name, ctx, stats, posted)
                for _ in range(RECONCILERS)
            ),
            *(_add_condition(kube, namespace, name, i, stats) for i in range(WRITERS)),
        )
        # Settle: whatever the writers did last, one more reconcile leaves the model complete.
        await _reconcile_until_quiet(kube, namespace, name, ctx, stats, posted)
        await kube.aio.close()

    asyncio.run(contend())
    stored = kube_cluster.custom.get_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, name
    )
    types_ = [c["type"] for c in stored["status"]["conditions"]]
    assert sorted(t for t in types_ if t.startswith("Extra")) == sorted(
        f"Extra{i}" for i in range(WRITERS)
    ), f"a writer's condition was lost: {types_} ({stats})"
    for wanted in ("SpecValid", "Trained", "Ready", "DriftDetected"):
        assert wanted in types_, f"the reconcile's {wanted} was lost: {types_} ({stats})"
    assert len(types_) == len(set(types_)), types_
    assert stored["status"]["observedGeneration"] == 1
    assert stored["status"]["phase"] == "Pending"
    # The contention was real: both kinds of writer lost races and recovered.
    assert stats["conflicts"] > 0, stats
    assert stats["writer_conflicts"] > 0, stats
    # Events only for writes that landed: each transition announced once, however many
    # reconciles decided it and lost (first appearances only when they are bad news, and
    # Ready=False NotTrained, where every new model starts, is not).
    assert sorted(posted) == ["Drift"], posted

"""`pace.adapters.kube_async` against the real API server: the reconcilers' reads and
conditional writes, with the credentials of the kubeconfig, as the official client makes them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from pace.adapters import kube_api
from pace.api import constants
from tests.integration.test_reconcile_concurrency import _model
from tests.servers.kube_apiserver import Cluster


def test_get_and_conditional_patches_as_the_api_server_answers(
    kube_cluster: Cluster, namespace: str
) -> None:
    created = kube_cluster.custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, _model("m")
    )
    kube = kube_api.KubeApi(kube_api.load_client(kube_cluster.kubeconfig))
    plural = constants.MLMODEL_PLURAL

    async def exercise() -> dict[str, Any]:
        found = await kube.aget_object(plural, namespace, "m")
        assert found is not None
        assert found["metadata"]["uid"] == created["metadata"]["uid"]
        assert await kube.aget_object(plural, namespace, "absent") is None
        rv = found["metadata"]["resourceVersion"]
        # Status goes to the status subresource, at the version read.
        stored = await kube.apatch_conditional(
            plural,
            namespace,
            "m",
            {"status": {"phase": "Pending"}},
            resource_version=rv,
            status=True,
        )
        assert stored["status"]["phase"] == "Pending"
        assert stored["metadata"]["resourceVersion"] != rv
        # The same version again: the object moved on, the API server refuses (409).
        with pytest.raises(kube_api.Conflict, match="changed since"):
            await kube.apatch_conditional(
                plural,
                namespace,
                "m",
                {"status": {"phase": "Failed"}},
                resource_version=rv,
                status=True,
            )
        # Metadata goes to the object itself.
        await kube.aannotate(plural, namespace, "m", {"mlops.pace.dev/note": "x"})
        with pytest.raises(kube_api.Gone):
            await kube.apatch_conditional(
                plural, namespace, "absent", {"status": {}}, resource_version="1", status=True
            )
        # Anything else is the official client's ApiException, with the API server's reason.
        with pytest.raises(ApiException) as refused:
            await kube.apatch_conditional(
                plural,
                namespace,
                "m",
                {"status": {"observedGeneration": "not a number"}},
                resource_version=(await kube.aget_object(plural, namespace, "m") or {})["metadata"][
                    "resourceVersion"
                ],
                status=True,
            )
        assert refused.value.status == 422
        assert "observedGeneration" in str(refused.value.body)
        await kube.aio.close()
        again = await kube.aget_object(plural, namespace, "m")  # a closed pool opens again
        assert again is not None
        await kube.aio.close()
        return again

    stored = asyncio.run(exercise())
    assert stored["status"]["phase"] == "Pending"
    assert stored["metadata"]["annotations"]["mlops.pace.dev/note"] == "x"

    # A second event loop (kopf's runner in another test) gets a pool of its own.
    async def again() -> dict[str, Any] | None:
        try:
            return await kube.aget_object(plural, namespace, "m")
        finally:
            await kube.aio.close()

    assert asyncio.run(again()) is not None

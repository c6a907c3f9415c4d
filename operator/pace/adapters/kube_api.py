"""Kubernetes API access for the operator and the local stack (the only kube client code).

Wraps the official `kubernetes` client. Its calls block; the async methods the reconcilers use
on every look (get, conditional patch, annotate) go through `pace.adapters.kube_async`
(aiohttp, same credentials), the rare rest through a worker thread, so kopf's event loop never
waits on the network.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException

from pace.adapters.kube_async import AsyncKube, Conflict, Gone
from pace.api import constants

__all__ = ["Conflict", "Gone", "KubeApi", "apply_crds", "load_client"]


def load_client(kubeconfig: str | None = None) -> kubernetes.client.ApiClient:
    """An API client from a kubeconfig file, $KUBECONFIG, or the in-cluster service account."""
    # The client reads $KUBECONFIG once at import; read it now instead.
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG")
    if kubeconfig:
        return kubernetes.config.new_client_from_config(config_file=kubeconfig)
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        return kubernetes.config.new_client_from_config()
    return kubernetes.client.ApiClient()


class KubeApi:
    """Reads and writes PACE objects and their children."""

    def __init__(self, client: kubernetes.client.ApiClient) -> None:
        self.client = client
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.core = kubernetes.client.CoreV1Api(client)
        self.aio = AsyncKube(client.configuration)

    def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One of our objects, or None when it does not exist."""
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, plural, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        """Decoded data of a Secret (values are never logged by this module)."""
        secret = self.core.read_namespaced_secret(name, namespace)
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def apply_object(
        self, group: str, version: str, plural: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Create the namespaced object, or replace it keeping its resourceVersion."""
        meta = body["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        try:
            existing = self.custom.get_namespaced_custom_object(
                group, version, namespace, plural, name
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            created: dict[str, Any] = self.custom.create_namespaced_custom_object(
                group, version, namespace, plural, body
            )
            return created
        body = {
            **body,
            "metadata": {**meta, "resourceVersion": existing["metadata"]["resourceVersion"]},
        }
        replaced: dict[str, Any] = self.custom.replace_namespaced_custom_object(
            group, version, namespace, plural, name, body
        )
        return replaced

    def ensure_namespace(self, name: str) -> None:
        """Create the namespace unless it exists."""
        try:
            self.core.create_namespace({"metadata": {"name": name}})
        except ApiException as exc:
            if exc.status != 409:
                raise

    def apply_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, str],
        *,
        labels: dict[str, str] | None = None,
    ) -> None:
        """Create or replace an Opaque Secret (values given in clear, stored base64). Needs
        ``create`` on Secrets and ``update`` on this one (RBAC can name it); never reads it."""
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if labels:
            metadata["labels"] = labels
        body = {
            "metadata": metadata,
            "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        }
        try:
            self.core.create_namespaced_secret(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            self.core.replace_namespaced_secret(name, namespace, body)

    def delete_secret(self, namespace: str, name: str) -> bool:
        """Delete a Secret (RBAC can limit ``delete`` to its name); False if it was not there."""
        try:
            self.core.delete_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def review_token(self, token: str) -> str | None:
        """The user name the API server authenticates this bearer token as (TokenReview), or
        None when it does not. The token is sent to the API server only."""
        review = kubernetes.client.AuthenticationV1Api(self.client).create_token_review(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            }
        )
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            return None
        return str(status.user.username)

    def service_account_token(self, namespace: str, name: str, *, seconds: int = 3600) -> str:
        """A bound token of a ServiceAccount (TokenRequest), creating the account if needed."""
        try:
            self.core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
        except ApiException as exc:
            if exc.status != 409:
                raise
        request = self.core.create_namespaced_service_account_token(
            name, namespace, {"spec": {"expirationSeconds": seconds}}
        )
        return str(request.status.token)

    async def aget_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """`get_object` without blocking the event loop."""
        return await self.aio.get_object(plural, namespace, name)

    def list_objects(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        """Every object of one of our kinds in a namespace."""
        listed = self.custom.list_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, plural
        )
        return list(listed.get("items", []))

    def annotate(
        self, plural: str, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> None:
        """Merge-patch annotations of one of our objects (None removes a key)."""
        self.custom.patch_namespaced_custom_object(
            constants.GROUP,
            constants.VERSION,
            namespace,
            plural,
            name,
            {"metadata": {"annotations": annotations}},
        )

    def patch_conditional(
        self,
        plural: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        resource_version: str,
        status: bool,
    ) -> dict[str, Any]:
        """Merge-patch one of our objects only if it is still at ``resource_version``.

        ``status`` selects the status subresource (the patch then holds ``status``), otherwise
        the object itself (metadata). Returns the stored object.

        Raises:
            Conflict: the object changed since it was read.
            Gone: the object was deleted.
        """
        body = {
            **patch,
            "metadata": {**patch.get("metadata", {}), "resourceVersion": resource_version},
        }
        call = (
            self.custom.patch_namespaced_custom_object_status
            if status
            else self.custom.patch_namespaced_custom_object
        )
        try:
            stored: dict[str, Any] = call(
                constants.GROUP, constants.VERSION, namespace, plural, name, body
            )
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(
                    f"{plural}/{namespace}/{name} changed since {resource_version}"
                ) from None
            if exc.status == 404:
                raise Gone(f"{plural}/{namespace}/{name} no longer exists") from None
            raise
        return stored

    async def apatch_conditional(
        self,
        plural: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        resource_version: str,
        status: bool,
    ) -> dict[str, Any]:
        """`patch_conditional` without blocking the event loop."""
        body = {
            **patch,
            "metadata": {**patch.get("metadata", {}), "resourceVersion": resource_version},
        }
        try:
            return await self.aio.patch(plural, namespace, name, body, status=status)
        except Conflict:
            changed = f"{plural}/{namespace}/{name} changed since {resource_version}"
            raise Conflict(changed) from None
        except Gone:
            raise Gone(f"{plural}/{namespace}/{name} no longer exists") from None

    async def aannotate(
        self, plural: str, namespace: str, name: str, annotations: dict[str, str | None]
    ) -> None:
        """`annotate` without blocking the event loop."""
        await self.aio.patch(
            plural, namespace, name, {"metadata": {"annotations": annotations}}, status=False
        )


def apply_crds(
    client: kubernetes.client.ApiClient, crds: Iterable[dict[str, Any]], *, timeout: float = 60.0
) -> list[str]:
    """Create or replace CRDs and wait until each is Established; return their names."""
    api = kubernetes.client.ApiextensionsV1Api(client)
    names = []
    for crd in crds:
        name = crd["metadata"]["name"]
        try:
            existing = api.read_custom_resource_definition(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            api.create_custom_resource_definition(crd)
        else:
            body = {
                **crd,
                "metadata": {
                    **crd["metadata"],
                    "resourceVersion": existing.metadata.resource_version,
                },
            }
            api.replace_custom_resource_definition(name, body)
        names.append(name)
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            conds = api.read_custom_resource_definition(name).status.conditions or []
            if any(c.type == "Established" and c.status == "True" for c in conds):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established after {timeout:.0f}s")
            time.sleep(0.2)
    return names

"""Run the operator as the ServiceAccount of manifests/rbac/operator.yaml (least privilege).

The manifests are applied to the test cluster (the kube-apiserver runs with
--authorization-mode=RBAC) with the operator's namespace replaced by the test's, and a
kubeconfig is written that signs in with a token of that ServiceAccount.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from kubernetes.client.exceptions import ApiException

from tests.servers.kube_apiserver import Cluster

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "rbac" / "operator.yaml"
OPERATOR_NAMESPACE = "pace-system"


def _retarget(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The manifest with pace-system replaced by ``namespace`` (cluster-scoped bindings get a
    per-namespace name, so tests do not share them)."""
    doc = copy.deepcopy(doc)
    meta = doc["metadata"]
    if meta.get("namespace") == OPERATOR_NAMESPACE:
        meta["namespace"] = namespace
    if doc["kind"] == "ClusterRoleBinding":
        meta["name"] = f"{meta['name']}-{namespace}"
    for subject in doc.get("subjects", []):
        if subject.get("namespace") == OPERATOR_NAMESPACE:
            subject["namespace"] = namespace
    return doc


def _apply(client: kubernetes.client.ApiClient, doc: dict[str, Any]) -> None:
    rbac = kubernetes.client.RbacAuthorizationV1Api(client)
    core = kubernetes.client.CoreV1Api(client)
    ns = doc["metadata"].get("namespace")
    create, replace = {
        "ServiceAccount": (
            lambda: core.create_namespaced_service_account(ns, doc),
            lambda: None,
        ),
        "ClusterRole": (
            lambda: rbac.create_cluster_role(doc),
            lambda: rbac.replace_cluster_role(doc["metadata"]["name"], doc),
        ),
        "ClusterRoleBinding": (
            lambda: rbac.create_cluster_role_binding(doc),
            lambda: rbac.replace_cluster_role_binding(doc["metadata"]["name"], doc),
        ),
        "Role": (
            lambda: rbac.create_namespaced_role(ns, doc),
            lambda: rbac.replace_namespaced_role(doc["metadata"]["name"], ns, doc),
        ),
        "RoleBinding": (
            lambda: rbac.create_namespaced_role_binding(ns, doc),
            lambda: rbac.replace_namespaced_role_binding(doc["metadata"]["name"], ns, doc),
        ),
    }[doc["kind"]]
    try:
        create()
    except ApiException as exc:
        if exc.status != 409:
            raise
        replace()


def operator_kubeconfig(cluster: Cluster, namespace: str, workdir: Path) -> str:
    """Apply the operator's RBAC for ``namespace``; return a kubeconfig signed in as it."""
    for doc in yaml.safe_load_all(MANIFEST.read_text()):
        _apply(cluster.client, _retarget(doc, namespace))
    token = (
        kubernetes.client.CoreV1Api(cluster.client)
        .create_namespaced_service_account_token(
            "pace-operator", namespace, {"spec": {"expirationSeconds": 3600}}
        )
        .status.token
    )
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path = workdir / "operator-kubeconfig.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return str(path)

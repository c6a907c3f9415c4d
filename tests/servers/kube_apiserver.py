"""Session fixtures for a real Kubernetes control plane (etcd + kube-apiserver + KCM).

Started by `pace.localstack.controlplane` on 127.0.0.1 unless PACE_USE_EXISTING_CLUSTER=1,
in which case $KUBECONFIG (or ~/.kube/config) is used as is. KUBEBUILDER_ASSETS is honoured
for the binaries. The CRDs are installed from the models (identical to crds/, checked by a
unit test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import pytest

from pace.adapters import kube_api
from pace.localstack import controlplane, stack


@dataclass(frozen=True)
class Cluster:
    """A reachable cluster with PACE's CRDs installed."""

    kubeconfig: str
    client: kubernetes.client.ApiClient
    plane: controlplane.ControlPlaneInfo | None = None  # ours (not an existing cluster)

    @property
    def custom(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.client)

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.client)


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The control plane for the whole session; KUBECONFIG points at it."""
    if os.environ.get("PACE_USE_EXISTING_CLUSTER") == "1":
        kubeconfig = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config"))
        stack.install_crds(kubeconfig)
        yield Cluster(kubeconfig, kube_api.load_client(kubeconfig))
        return
    info = controlplane.start(tmp_path_factory.mktemp("controlplane"))
    previous = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = info.kubeconfig
    try:
        stack.install_crds(info.kubeconfig)
        yield Cluster(info.kubeconfig, kube_api.load_client(info.kubeconfig), info)
    finally:
        controlplane.stop(info)
        if previous is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = previous


@pytest.fixture
def namespace(kube_cluster: Cluster) -> Iterator[str]:
    """A throw-away namespace per test, deleted afterwards (namespace controller runs)."""
    name = f"pace-test-{uuid.uuid4().hex[:8]}"
    kube_cluster.core.create_namespace({"metadata": {"name": name}})
    yield name
    kube_cluster.core.delete_namespace(name)

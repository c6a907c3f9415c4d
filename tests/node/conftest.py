"""One control plane hosting one real node for the node tests (session-wide: a node per host
at a time); its stop must leave nothing on the host."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pace.localstack import binaries, controlplane, images, minio, node, processes

IMAGE = "localhost/pace-operator:0.1.0"
MODEL_SERVER = "localhost/pace-model-server:0.1.0"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start their own node (`pace local up --node`) run before the first test
    that uses the session's node: one node per host at a time."""
    items.sort(key=lambda item: "cluster" in getattr(item, "fixturenames", ()))


def image_archive(name: str) -> Path:
    record = images.cache_dir() / "images.json"
    if not record.is_file():
        pytest.fail("no images recorded: run `make images` first")
    return Path(json.loads(record.read_text())[name]["archive"])


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[controlplane.ControlPlaneInfo, node.NodeInfo]]:
    node.require_tools()
    work = tmp_path_factory.mktemp("cluster")
    plane = controlplane.start(work / "controlplane", hosting=node.hosting())
    root = Path(f"/tmp/pace-node-{work.parent.name[-8:]}")
    try:
        started = time.monotonic()
        info = node.start(plane, root, images=[(image_archive("pace-operator"), IMAGE)])
        print(f"node Ready {time.monotonic() - started:.1f}s after start (images imported)")
        try:
            yield plane, info
        finally:
            node.stop(info)
            left = node.leftovers(root)
            assert all(not v for v in left.values()), left
            subprocess.run(["rm", "-rf", str(root)], check=False)
    finally:
        controlplane.stop(plane)


def kubectl(plane: Any, *args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(
        [str(binaries.locate("kubectl")), f"--kubeconfig={plane.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def host_store(tmp_path: Path) -> Iterator[minio.MinioInfo]:
    """MinIO on the host's address, where the node's Pods reach it."""
    store = minio.start(tmp_path / "minio", address=node.host_ip())
    try:
        yield store
    finally:
        processes.stop(store.pid)


def s3_secret(plane: Any, namespace: str, store: minio.MinioInfo) -> None:
    """The object-store Secret (keys accessKey, secretKey) in ``namespace``."""
    kubectl(plane, "create", "namespace", namespace)
    kubectl(
        plane,
        "create",
        "secret",
        "generic",
        "pace-s3",
        "-n",
        namespace,
        f"--from-literal=accessKey={store.access_key}",
        f"--from-literal=secretKey={store.secret_key}",
    )

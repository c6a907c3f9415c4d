"""The local serving runtime against a real kube-apiserver and MinIO: a runtime stopped while a
microservice is still starting leaves no process behind (`make demo`'s Ctrl-C and its end)."""

from __future__ import annotations

import io
import subprocess
import time
import uuid
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.localstack import processes
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually
from tests.servers.serving import create_seldon_deployment, start_serving_runtime


def microservices_serving(uri: str) -> list[int]:
    """Pids of seldon-core microservices given ``uri`` as their model_uri parameter."""
    pids = subprocess.run(
        ["pgrep", "-f", "seldon-core-microservice"], capture_output=True, text=True, check=False
    ).stdout.split()
    found = []
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        parameters = [e for e in environ if e.startswith(b"PREDICTIVE_UNIT_PARAMETERS=")]
        if any(f'"{uri}"'.encode() in p for p in parameters):
            found.append(int(pid))
    return found


def test_runtime_stopped_while_a_microservice_starts_leaves_none(
    kube_cluster: Cluster, namespace: str, s3_settings: S3Settings, tmp_path: Path
) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), buffer)
    prefix = f"models/{uuid.uuid4().hex[:8]}"
    store.put(f"{prefix}/model.joblib", buffer.getvalue())
    uri = store.uri(prefix)
    runtime = start_serving_runtime(kube_cluster.kubeconfig, s3_settings, tmp_path)
    try:
        create_seldon_deployment(kube_cluster, namespace, "iris", uri)
        spawned = eventually(
            lambda: microservices_serving(uri), timeout=60, interval=0.05, what="a spawn"
        )
    finally:
        processes.stop(runtime.pid)
    # Stopped while it was still loading (not ready yet): gone with the runtime.
    assert spawned
    time.sleep(1)
    assert microservices_serving(uri) == []

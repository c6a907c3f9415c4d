"""The local serving runtime against a real kube-apiserver and MinIO: a runtime stopped while a
microservice is still starting leaves no process behind (`make demo`'s Ctrl-C and its end); a
PACE-trained model answers positional rows; the SeldonDeployment status is written as Seldon
writes it."""

from __future__ import annotations

import io
import json
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import joblib
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.core import training
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


def _sdep(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
        "machinelearning.seldon.io", "v1", namespace, "seldondeployments", name
    )
    return found


def test_a_pace_model_serves_positional_rows_and_status_is_seldons(
    kube_cluster: Cluster, namespace: str, s3_settings: S3Settings, tmp_path: Path
) -> None:
    """A model PACE trained (numeric and categorical columns) answers rows sent the way
    Seldon's SKLEARN_SERVER passes them (a plain array, no names; JSON makes mixed rows
    strings); the SeldonDeployment's status turns Available only once the predictor answers,
    and a predictor that cannot load its model is Failed, with the reason, and never
    Available."""
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    frame = load_wine(as_frame=True).frame
    frame["colour"] = ["red" if a > 13 else "white" for a in frame["alcohol"]]
    fitted = training.train(
        frame,
        target="target",
        task="classification",
        algorithm="logistic_regression",
        hyperparameters={},
        search={},
        cv_folds=3,
        seed=0,
    )
    buffer = io.BytesIO()
    joblib.dump(fitted.model, buffer)
    prefix = f"models/{uuid.uuid4().hex[:8]}"
    store.put(f"{prefix}/model.joblib", buffer.getvalue())
    runtime = start_serving_runtime(kube_cluster.kubeconfig, s3_settings, tmp_path)
    try:
        create_seldon_deployment(kube_cluster, namespace, "wine", store.uri(prefix))
        create_seldon_deployment(kube_cluster, namespace, "broken", store.uri("models/none"))
        states = []

        def available() -> bool:
            state = (_sdep(kube_cluster, namespace, "wine").get("status") or {}).get("state")
            if not states or states[-1] != state:
                states.append(state)
            return state == "Available"

        eventually(available, timeout=90, interval=0.05, what="wine Available")
        assert states[-2:] == ["Creating", "Available"], states
        status = _sdep(kube_cluster, namespace, "wine")["status"]
        assert status["deploymentStatus"]["wine-main-0-model"] == {
            "name": "wine-main-0-model",
            "replicas": 1,
            "availableReplicas": 1,
        }
        assert status["observedGeneration"] == 1
        rows = frame.drop(columns=["target"]).head(3).to_numpy().tolist()
        body = json.dumps({"data": {"ndarray": rows}}).encode()
        url = f"{runtime.url}/seldon/{namespace}/wine/api/v1.0/predictions"
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        probabilities = answer["data"]["ndarray"]
        assert len(probabilities) == 3
        assert all(abs(sum(p) - 1) < 1e-6 for p in probabilities)
        assert answer["data"]["names"] == ["0", "1", "2"]

        failed = eventually(
            lambda: (
                (s := _sdep(kube_cluster, namespace, "broken").get("status") or {}).get("state")
                == "Failed"
                and s
            ),
            timeout=90,
            what="broken Failed",
        )
        assert "NoSuchKey" in failed["description"], failed
        assert failed["deploymentStatus"]["broken-main-0-model"]["availableReplicas"] == 0
    finally:
        processes.stop(runtime.pid)

"""The local serving runtime against a real kube-apiserver and MinIO: a runtime stopped while a
microservice is still starting leaves no process behind (`make demo`'s Ctrl-C and its end); a
PACE-trained model answers positional rows; the SeldonDeployment status is written as Seldon
writes it; each predictor reads its model with the keys of its envSecretRefName Secret only,
as Seldon's storage initializer does (no Secret, a missing one, or a key that may not read the
folder fail it)."""

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
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression

from pace.adapters.kube_api import KubeApi
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.adapters.store_users import StoreUsers
from pace.core import serving_credentials, training
from pace.localstack import processes
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually
from tests.servers.serving import (
    create_seldon_deployment,
    create_store_secret,
    start_serving_runtime,
)


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
    create_store_secret(kube_cluster, namespace, "store-keys", s3_settings)
    runtime = start_serving_runtime(kube_cluster.kubeconfig, tmp_path)
    try:
        create_seldon_deployment(kube_cluster, namespace, "iris", uri, secret="store-keys")
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


def _scoped_secret(
    cluster: Cluster, namespace: str, name: str, s3: S3Settings, *, reads: str
) -> None:
    """A Secret ``name`` in ``namespace`` with the scoped serving key of namespace ``reads``
    (made with the store's admin API, as the operator makes it)."""
    key = serving_credentials.derive_key(s3.secret_key, reads)
    users = StoreUsers(endpoint=s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key)
    users.ensure_reader(
        key.access_key,
        key.secret_key,
        policy_name=serving_credentials.policy_name(reads),
        policy=serving_credentials.read_policy(s3.bucket, reads),
    )
    data = serving_credentials.secret_data(key, endpoint=s3.endpoint, secure=s3.secure)
    KubeApi(cluster.client).apply_secret(namespace, name, data)


def _failed(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = eventually(
        lambda: (
            (s := _sdep(cluster, namespace, name).get("status") or {}).get("state") == "Failed"
            and s
        ),
        timeout=90,
        what=f"{name} Failed",
    )
    assert found["deploymentStatus"][f"{name}-main-0-model"]["availableReplicas"] == 0
    return found


def test_a_pace_model_serves_positional_rows_and_status_is_seldons(
    kube_cluster: Cluster,
    namespace: str,
    s3_settings: S3Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A model PACE trained (numeric and categorical columns) answers rows sent the way
    Seldon's SKLEARN_SERVER passes them (a plain array, no names; JSON makes mixed rows
    strings), read with a scoped serving key of its namespace's prefix; the SeldonDeployment's
    status turns Available only once the predictor answers, and a predictor that cannot load
    its model is Failed, with the reason, and never Available: a missing model, a key of
    another namespace, no envSecretRefName, a Secret that does not exist. The runtime is
    started from an environment holding the store's full keys: none of them reaches a
    predictor."""
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
    owner = f"team-{uuid.uuid4().hex[:6]}"  # the namespace whose prefix holds the model
    prefix = f"models/{owner}/wine/versions/v1"
    store.put(f"{prefix}/model.joblib", buffer.getvalue())
    _scoped_secret(kube_cluster, namespace, "owner-keys", s3_settings, reads=owner)
    _scoped_secret(kube_cluster, namespace, "other-keys", s3_settings, reads=f"{owner}-x")
    create_store_secret(kube_cluster, namespace, "store-keys", s3_settings)
    for key, value in s3_settings.to_env().items():  # what the runtime must not pass on
        monkeypatch.setenv(key, value)
    runtime = start_serving_runtime(kube_cluster.kubeconfig, tmp_path)
    uri = store.uri(prefix)
    try:
        create_seldon_deployment(kube_cluster, namespace, "wine", uri, secret="owner-keys")
        create_seldon_deployment(
            kube_cluster, namespace, "broken", store.uri("models/none"), secret="store-keys"
        )
        create_seldon_deployment(kube_cluster, namespace, "foreign", uri, secret="other-keys")
        create_seldon_deployment(kube_cluster, namespace, "unkeyed", uri, secret=None)
        create_seldon_deployment(kube_cluster, namespace, "unsecret", uri, secret="nope")
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

        failed = _failed(kube_cluster, namespace, "broken")
        assert "NoSuchKey" in failed["description"], failed
        foreign = _failed(kube_cluster, namespace, "foreign")
        assert "AccessDenied" in foreign["description"], foreign
        unkeyed = _failed(kube_cluster, namespace, "unkeyed")
        assert "didn't find section in config file for remote 's3'" in unkeyed["description"]
        unsecret = _failed(kube_cluster, namespace, "unsecret")
        assert 'secret "nope" not found' in unsecret["description"], unsecret
    finally:
        processes.stop(runtime.pid)

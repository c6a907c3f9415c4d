"""Live quality end to end: a served version's predictions, labelled through Seldon's
feedback API and the sink's labels API, become its live accuracy in status, in `kubectl get
mlm` (LIVE) and in Prometheus (pace_live_metric), equal to the accuracy of the answers the
client got against the truth it sent.

Real servers: kube-apiserver, MinIO, Prometheus, the local serving runtime (router +
seldon-core microservice), the operator with its inference sink.
"""

from __future__ import annotations

import collections
import io
import json
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.datasets import load_wine

from pace import audit_log
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.adapters.prometheus_api import PrometheusApi
from pace.api import constants
from pace.core import naming
from pace.localstack import binaries, processes
from pace.localstack.minio import MinioInfo
from tests.e2e.test_canary_rollout import Traffic
from tests.e2e.test_closed_loop import DASHBOARD
from tests.e2e.test_train_and_register import get, operator_env, wine
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator
from tests.servers.serving import ServingRuntime, running_prometheus


def labelled_operator_env(
    cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    serving: ServingRuntime,
    tmp_path: Path,
    prometheus: Any,
    sink_port: int,
) -> dict[str, str]:
    """The operator's settings with Prometheus, the serving gateway and its inference sink
    (which takes the labels)."""
    env = operator_env(cluster, namespace, minio_server, s3_settings, tmp_path / "p")
    return env | {
        "PACE_PROMETHEUS_URL": prometheus.url,
        "PACE_SERVING_GATEWAY": serving.url,
        "PACE_INFERENCE_SINK_PORT": str(sink_port),
        "PACE_INFERENCE_LOG_URL": f"http://127.0.0.1:{sink_port}/",
    }


def serve_v1_then_retrain(cluster: Cluster, namespace: str, canary_spec: dict[str, Any]) -> None:
    """The sample wine model with this canary: v1 serves, then a training change asks for v2."""
    body = wine("wine", serving={"canary": canary_spec})
    cluster.custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body
    )
    eventually(
        lambda: get(cluster, namespace, "wine").get("status", {}).get("servingVersion") == "v1",
        timeout=300,
        interval=1,
        what="v1 serving",
    )
    cluster.custom.patch_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.MLMODEL_PLURAL,
        "wine",
        {"spec": {"training": {"hyperparameters": {"n_estimators": 30}}}},
    )


def post(url: str, message: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(
        url, data=json.dumps(message).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read()), dict(response.headers)


def test_labelled_traffic_gives_the_serving_version_its_live_accuracy(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    serving: ServingRuntime,
    tmp_path: Path,
) -> None:
    metrics_port, sink_port = processes.free_port(), processes.free_port()
    prom = running_prometheus(tmp_path / "prom", {"operator": f"127.0.0.1:{metrics_port}"})
    prom_info = next(prom)
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, tmp_path / "p")
    env |= {
        "PACE_SERVING_GATEWAY": serving.url,
        "PACE_INFERENCE_SINK_PORT": str(sink_port),
        "PACE_INFERENCE_LOG_URL": f"http://127.0.0.1:{sink_port}/",
    }
    data = load_wine()
    store = ObjectStore(s3_settings)
    try:
        with running_operator(namespace, metrics_port=metrics_port, env_extra=env):
            body = wine("wine", liveQuality={"window": "1h", "interval": "2s"})
            # Each retrain also learns from the labelled live rows (appended to the base).
            body["spec"]["dataset"]["recent"] = {"window": {"duration": "1h"}, "minRows": 20}
            kube_cluster.custom.create_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body
            )
            eventually(
                lambda: any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in get(kube_cluster, namespace, "wine")
                    .get("status", {})
                    .get("conditions", [])
                ),
                timeout=300,
                interval=1,
                what="v1 Ready",
            )
            base = f"{serving.url}/seldon/{namespace}/wine/api/v1.0"
            # Every third row, with a shift that costs the model some accuracy.
            picked = list(range(0, len(data.data), 3))[:60]
            hits = []
            for n, i in enumerate(picked):
                row = [v * (1.3 if n % 2 else 1.0) for v in data.data[i]]
                answer, headers = post(f"{base}/predictions", {"data": {"ndarray": [row]}})
                puid = answer["meta"]["puid"]
                assert headers["Seldon-Puid"] == puid
                probabilities = answer["data"]["ndarray"][0]
                predicted = answer["data"]["names"][probabilities.index(max(probabilities))]
                truth = int(data.target[i])
                hits.append(predicted == str(truth))
                if n % 2:  # Seldon's feedback API
                    post(
                        f"{base}/feedback",
                        {
                            "response": {"meta": {"puid": puid}},
                            "truth": {"data": {"ndarray": [truth]}},
                        },
                    )
                else:  # delayed labels by id
                    post(
                        f"http://127.0.0.1:{sink_port}/labels/{namespace}/wine",
                        {"labels": [{"id": puid, "truth": truth}]},
                    )
            expected = sum(hits) / len(hits)

            def live() -> dict[str, Any] | None:
                versions = get(kube_cluster, namespace, "wine")["status"]["versions"]
                found = next(v for v in versions if v["version"] == "v1").get("live")
                return found if found and found["rows"] == 60 else None

            measured = eventually(live, timeout=60, interval=0.5, what="v1 live rows = 60")
            assert abs(measured["metrics"]["accuracy"] - expected) < 1e-6
            assert set(measured["metrics"]) == {"accuracy", "f1_macro", "log_loss"}
            assert measured["window"] == "1h"
            interval = measured["interval"]
            assert interval["metric"] == "accuracy"
            assert interval["low"] <= expected <= interval["high"]
            summary = get(kube_cluster, namespace, "wine")["status"]["liveQuality"]
            assert summary["summary"] == f"accuracy {expected:.3f} n=60 (v1)"
            assert (summary["duplicates"], summary["unmatched"]) == (0, 0)

            table = subprocess.run(
                [
                    str(binaries.locate("kubectl")),
                    f"--kubeconfig={kube_cluster.kubeconfig}",
                    "get",
                    "mlm",
                    "wine",
                    "-n",
                    namespace,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            header, row = table.splitlines()[:2]
            assert "LIVE" in header.split()
            assert f"accuracy {expected:.3f} n=60 (v1)" in row

            api = PrometheusApi(prom_info.url)
            query = (
                f'pace_live_metric{{namespace="{namespace}",model="wine",version="v1",'
                'predictor="main",metric="accuracy"}'
            )
            # Scraped every few seconds: wait for the sample of the last measurement.
            value = eventually(
                lambda: (v := api.query(query)) is not None and abs(v - expected) < 1e-9 and v,
                timeout=60,
                interval=1,
                what=f"pace_live_metric = {expected}",
            )
            assert abs(value - expected) < 1e-9
            rows_query = (
                f'pace_live_labelled_rows{{namespace="{namespace}",model="wine",version="v1"}}'
            )
            eventually(lambda: api.query(rows_query) == 60, timeout=60, interval=1, what="rows")
            # A RetrainPolicy on live quality (no PromQL): fires once enough rows are labelled.
            policy = {
                "apiVersion": constants.API_VERSION,
                "kind": "RetrainPolicy",
                "metadata": {"name": "wine-live"},
                "spec": {
                    "modelRef": {"name": "wine"},
                    "triggers": {
                        "performance": {
                            "metric": "accuracy",
                            "below": round(expected + 0.01, 4),
                            "minRows": 60,
                        }
                    },
                    "autoPromote": False,
                },
            }
            kube_cluster.custom.create_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.RETRAIN_POLICY_PLURAL,
                policy,
            )

            def fired() -> dict[str, Any] | None:
                found = kube_cluster.custom.get_namespaced_custom_object(
                    constants.GROUP,
                    constants.VERSION,
                    namespace,
                    constants.RETRAIN_POLICY_PLURAL,
                    "wine-live",
                )
                last: dict[str, Any] | None = (found.get("status") or {}).get("lastTrigger")
                return last

            last = eventually(fired, timeout=60, interval=0.5, what="the performance trigger")
            assert last["reason"] == (
                f"performance: live accuracy {expected:.4g} below {round(expected + 0.01, 4)} "
                "over 60 labelled predictions of v1"
            )

            def v2() -> dict[str, Any] | None:
                versions = get(kube_cluster, namespace, "wine")["status"].get("versions", [])
                return next((v for v in versions if v["version"] == "v2"), None)

            trained = eventually(v2, timeout=180, interval=1, what="v2 registered")
            # Trained on the base data and the 60 labelled live rows; frozen with the version.
            assert trained["recentRows"] == 60
            assert trained["dataNote"] == (
                "trained on 178 base rows and 60 recent rows (mode append)"
            )
            uid = get(kube_cluster, namespace, "wine")["metadata"]["uid"]
            lineage = store.get_json(
                naming.artifact_key(
                    namespace=namespace, model="wine", version="v2", artifact="lineage", uid=uid
                )
            )
            assert lineage["data"]["recent"]["rows"] == 60
            assert lineage["data"]["base"]["rows"] == 178
            assert lineage["data"]["hash"] == trained["dataHash"]
            snapshot_key = lineage["artifacts"]["recent"].removeprefix(
                f"s3://{store.settings.bucket}/"
            )
            assert len(pd.read_parquet(io.BytesIO(store.get(snapshot_key)))) == 60

            # The dashboard's live panels, against this Prometheus.
            dashboard = json.loads(DASHBOARD.read_text())
            live_panels = [p for p in dashboard["panels"] if p["title"].startswith("Live")]
            assert len(live_panels) == 2
            for panel in live_panels:
                for target in panel["targets"]:
                    expr = target["expr"].replace("$namespace", namespace)
                    expr = expr.replace("$model", "wine")
                    now = time.time()
                    found = api.query_range(expr, start=now - 60, end=now, step=5)
                    assert found, panel["title"]
    finally:
        prom.close()


def test_the_live_gate_holds_without_labels_and_rolls_back_a_candidate_worse_on_them(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    serving: ServingRuntime,
    tmp_path: Path,
) -> None:
    """The canary answers every request (success rate and latency pass), but on labelled
    requests it is wrong where main is right: the live gate fails it (one-sided
    two-proportion test) and it is rolled back; before labels arrive the step holds."""
    metrics_port, sink_port = processes.free_port(), processes.free_port()
    prom = running_prometheus(
        tmp_path / "prom",
        {"router": serving.metrics_target, "operator": f"127.0.0.1:{metrics_port}"},
    )
    env = labelled_operator_env(
        kube_cluster, namespace, minio_server, s3_settings, serving, tmp_path, next(prom), sink_port
    )
    data = load_wine()
    store = ObjectStore(s3_settings)
    canary_spec = {
        "steps": [50, 100],
        "interval": "4s",
        "maxFailedChecks": 0,
        "liveGate": {"minLabelledRows": 15, "alpha": 0.05, "maxWait": "5m"},
    }
    try:
        with running_operator(namespace, metrics_port=metrics_port, env_extra=env):
            serve_v1_then_retrain(kube_cluster, namespace, canary_spec)
            base = f"{serving.url}/seldon/{namespace}/wine/api/v1.0"

            def send_labelled(n: int) -> None:
                for i in range(n):
                    row = data.data[i % len(data.data)].tolist()
                    request = urllib.request.Request(
                        f"{base}/predictions",
                        data=json.dumps({"data": {"ndarray": [row]}}).encode(),
                        headers={"Content-Type": "application/json"},
                    )
                    with urllib.request.urlopen(request, timeout=30) as response:
                        answer = json.loads(response.read())
                        predictor = response.headers["X-Seldon-Predictor"]
                    probabilities = answer["data"]["ndarray"][0]
                    predicted = int(
                        answer["data"]["names"][probabilities.index(max(probabilities))]
                    )
                    # Main's answers are right, the canary's wrong.
                    truth = predicted if predictor == "main" else (predicted + 1) % 3
                    post(
                        f"http://127.0.0.1:{sink_port}/labels/{namespace}/wine",
                        {"labels": [{"id": answer["meta"]["puid"], "truth": truth}]},
                    )

            def canary_state() -> dict[str, Any]:
                return dict(get(kube_cluster, namespace, "wine")["status"].get("canary") or {})

            eventually(
                lambda: (
                    get(kube_cluster, namespace, "wine")["status"].get("candidateVersion") == "v2"
                    and canary_state().get("holding") != "PredictorStarting"
                ),
                timeout=300,
                interval=0.5,
                what="v2 canary with its predictor ready",
            )
            # Traffic without labels: success rate and latency have data, the gate has none.
            traffic = Traffic(f"{base}/predictions")
            traffic.thread.start()
            held = eventually(
                lambda: (s := canary_state()).get("holding") == "AwaitingLabels" and s,
                timeout=60,
                interval=0.5,
                what="the step holding for labels",
            )
            assert held["live"]["verdict"] == "inconclusive"
            assert held["weight"] == 50
            send_labelled(70)

            def rolled_back() -> dict[str, Any] | None:
                st = get(kube_cluster, namespace, "wine")["status"]
                versions = {v["version"]: v["stage"] for v in st["versions"]}
                return st if versions.get("v2") == "rejected" else None

            final = eventually(rolled_back, timeout=120, interval=0.5, what="v2 rolled back")
            traffic.stop.set()
            assert traffic.snapshot()[("canary", 200)] > 0
            assert not [key for key in traffic.snapshot() if key[1] != 200]
            assert final["servingVersion"] == "v1"
            assert final.get("candidateVersion") is None
            history = audit_log.read_history(store, namespace, "wine")
            rollback = [r for r in history if r["type"] == "RolledBack"]
            assert rollback, [r["type"] for r in history]
            message = rollback[-1]["message"]
            assert "live gate: canary accuracy 0.000" in message
            assert "main accuracy 1.000" in message
            assert "one-sided two-proportion z=" in message
            # Success rate passed throughout: the live gate alone failed the canary.
            assert "request-success-rate" not in message
    finally:
        prom.close()


def test_a_shadow_is_judged_on_live_labels_and_never_answers_a_client(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    serving: ServingRuntime,
    tmp_path: Path,
) -> None:
    """strategy: shadow: v2 gets a mirrored copy of every request, its answers are logged
    (with the request's puid) and never returned (every response checked); it holds for
    labels, then the live gate passes it and it is promoted."""
    metrics_port, sink_port = processes.free_port(), processes.free_port()
    prom = running_prometheus(
        tmp_path / "prom",
        {"router": serving.metrics_target, "operator": f"127.0.0.1:{metrics_port}"},
    )
    env = labelled_operator_env(
        kube_cluster, namespace, minio_server, s3_settings, serving, tmp_path, next(prom), sink_port
    )
    data = load_wine()
    store = ObjectStore(s3_settings)
    canary_spec = {
        "strategy": "shadow",
        "steps": [100],
        "interval": "3s",
        "maxFailedChecks": 0,
        "liveGate": {"minLabelledRows": 15, "margin": 0.1, "maxWait": "5m"},
    }
    answered_by: collections.Counter[str] = collections.Counter()
    stop = threading.Event()

    def labelled_traffic(base: str) -> None:
        i = 0
        while not stop.is_set():
            row = data.data[i % len(data.data)].tolist()
            answer, headers = post(f"{base}/predictions", {"data": {"ndarray": [row]}})
            answered_by[headers["X-Seldon-Predictor"]] += 1
            post(
                f"http://127.0.0.1:{sink_port}/labels/{namespace}/wine",
                {"labels": [{"id": answer["meta"]["puid"], "truth": int(data.target[i % 178])}]},
            )
            i += 1
            time.sleep(0.05)

    sender: threading.Thread | None = None
    try:
        with running_operator(namespace, metrics_port=metrics_port, env_extra=env):
            serve_v1_then_retrain(kube_cluster, namespace, canary_spec)

            def shadow_state() -> dict[str, Any] | None:
                st = get(kube_cluster, namespace, "wine")["status"]
                canary = st.get("canary") or {}
                if st.get("candidateVersion") == "v2" and canary.get("shadow"):
                    return canary
                return None

            started = eventually(shadow_state, timeout=300, interval=0.5, what="v2 shadow")
            assert started["weight"] == 0
            sdep_spec = kube_cluster.custom.get_namespaced_custom_object(
                "machinelearning.seldon.io", "v1", namespace, "seldondeployments", "wine"
            )["spec"]["predictors"]
            assert {(p["name"], p["traffic"], p.get("shadow", False)) for p in sdep_spec} == {
                ("main", 100, False),
                ("shadow", 0, True),
            }
            eventually(
                lambda: (s := shadow_state()) and s.get("holding") == "AwaitingLabels",
                timeout=120,
                interval=0.5,
                what="the shadow waiting for labels",
            )
            base = f"{serving.url}/seldon/{namespace}/wine/api/v1.0"
            sender = threading.Thread(target=labelled_traffic, args=(base,), daemon=True)
            sender.start()
            final = eventually(
                lambda: (
                    (st := get(kube_cluster, namespace, "wine")["status"]).get("servingVersion")
                    == "v2"
                    and st
                ),
                timeout=180,
                interval=0.5,
                what="v2 promoted from the shadow",
            )
            stop.set()
            sender.join(timeout=30)
            # Every answer a client got came from main.
            assert set(answered_by) == {"main"}, answered_by
            assert answered_by["main"] >= 15
            history = audit_log.read_history(store, namespace, "wine")
            promoted = [r for r in history if r["type"] == "Promoted"][-1]["message"]
            assert "The shadow passed every check on live labels: promoting." in promoted
            assert final.get("candidateVersion") is None
            # The shadow's answers were logged for the same requests, under v2.
            v2 = next(v for v in final["versions"] if v["version"] == "v2")
            assert v2["stage"] == "production"
    finally:
        stop.set()
        prom.close()

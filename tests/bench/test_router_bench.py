"""Latency (p50/p99) and throughput through the local router versus calling the seldon-core
microservice directly, in the same run, on the same model. Figures only; no timed asserts."""

from __future__ import annotations

import io
import json
import statistics
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import joblib
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.localstack import processes, serving
from tests.bench.results import record
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually
from tests.servers.serving import create_seldon_deployment, create_store_secret, store_env

ROWS = load_wine(as_frame=True).frame.drop(columns=["target"])
SEQUENTIAL = 300
CONCURRENT_SECONDS = 5.0
THREADS = 8


def post(url: str, row: list[float]) -> None:
    body = json.dumps({"data": {"ndarray": [row]}}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def measure(url: str) -> dict[str, float]:
    rows = ROWS.to_numpy().tolist()
    for row in rows[:20]:  # warm up
        post(url, row)
    latencies = []
    for i in range(SEQUENTIAL):
        started = time.perf_counter()
        post(url, rows[i % len(rows)])
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    count, stop = [0], time.monotonic() + CONCURRENT_SECONDS
    lock = threading.Lock()

    def worker() -> None:
        i = 0
        while time.monotonic() < stop:
            post(url, rows[i % len(rows)])
            i += 1
            with lock:
                count[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(0.99 * len(latencies)) - 1] * 1000, 2),
        "throughput_rps": round(count[0] / CONCURRENT_SECONDS, 1),
    }


def test_router_versus_direct(
    kube_cluster: Cluster, s3_settings: S3Settings, tmp_path: Path
) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    X, y = load_wine(return_X_y=True, as_frame=True)
    buf = io.BytesIO()
    joblib.dump(RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y), buf)
    store.put("bench/v1/model.joblib", buf.getvalue())
    model_uri = f"s3://{store.bucket}/bench/v1"

    direct, port = serving.start_microservice(
        "bench-direct",
        model_uri=model_uri,
        method="predict_proba",
        log=tmp_path / "direct.log",
        store_env=store_env(s3_settings),
    )
    runtime = serving.start_runtime(kube_cluster.kubeconfig, tmp_path)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kube_cluster.core.create_namespace({"metadata": {"name": namespace}})
    create_store_secret(kube_cluster, namespace, "store-keys", s3_settings)
    try:
        create_seldon_deployment(kube_cluster, namespace, "wine", model_uri, secret="store-keys")
        routed = f"{runtime.url}/seldon/{namespace}/wine/api/v1.0/predictions"

        def answers() -> bool:
            try:
                post(routed, ROWS.iloc[0].tolist())
            except OSError:
                return False
            return True

        eventually(answers, timeout=120, what="the router to serve the deployment")
        direct_figures = measure(f"http://127.0.0.1:{port}/api/v1.0/predictions")
        router_figures = measure(routed)
    finally:
        processes.stop(runtime.pid)
        processes.stop(direct.pid)
        kube_cluster.core.delete_namespace(namespace)
    figures = {f"direct_{k}": v for k, v in direct_figures.items()}
    figures |= {f"router_{k}": v for k, v in router_figures.items()}
    figures["router_overhead_p50_ms"] = round(
        router_figures["p50_ms"] - direct_figures["p50_ms"], 2
    )
    figures["requests_sequential"] = SEQUENTIAL
    figures["threads"] = THREADS
    record("router", figures)

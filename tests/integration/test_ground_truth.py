"""Ground truth in, against the real router, seldon-core microservice, sink and MinIO: every
prediction gets a puid (``meta.puid``, as Seldon's executor answers), labels arrive by
Seldon's feedback API and by the sink's labels API (delayed, out of order, twice, for an
unknown id, before their prediction), land as Parquet beside the inference log, and join with
the logged predictions into the version's live accuracy; a SIGTERM of the operator that runs
the sink loses no acknowledged label."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import joblib
import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from pace.adapters import inference_log
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.core import live_quality
from pace.inference_sink import InferenceSink
from pace.localstack import processes, stack
from pace.localstack.minio import MinioInfo
from tests.e2e.test_train_and_register import operator_env
from tests.servers.kube_apiserver import Cluster
from tests.servers.serving import (
    create_seldon_deployment,
    create_store_secret,
    start_serving_runtime,
)


async def test_labels_by_feedback_and_by_id_join_into_live_accuracy(
    kube_cluster: Cluster, namespace: str, s3_settings: S3Settings, tmp_path: Path
) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(x[::2], y[::2])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    prefix = f"models/{uuid.uuid4().hex[:8]}"
    store.put(f"{prefix}/model.joblib", buffer.getvalue())

    sink = InferenceSink(store, flush_seconds=3600)  # flushed by the test
    sink_port = processes.free_port()
    runner = await sink.start("127.0.0.1", sink_port)
    sink_url = f"http://127.0.0.1:{sink_port}"
    runtime = start_serving_runtime(kube_cluster.kubeconfig, tmp_path)
    create_store_secret(kube_cluster, namespace, "store-keys", s3_settings)
    try:
        create_seldon_deployment(
            kube_cluster,
            namespace,
            "iris",
            store.uri(prefix),
            secret="store-keys",
            log_url=f"{sink_url}/versions/v1",
        )
        base = f"{runtime.url}/seldon/{namespace}/iris/api/v1.0"
        rows = x[1::5][:30]  # rows the model did not see
        truth = y[1::5][:30]
        async with aiohttp.ClientSession() as http:

            async def predict(row: np.ndarray, puid: str | None = None) -> tuple[str, str]:
                message: dict[str, Any] = {"data": {"ndarray": [row.tolist()]}}
                if puid:
                    message["meta"] = {"puid": puid}
                async with http.post(f"{base}/predictions", json=message) as resp:
                    if resp.status != 200:
                        return "", ""
                    answer = await resp.json()
                    assert resp.headers["Seldon-Puid"] == answer["meta"]["puid"]
                    best = int(np.argmax(answer["data"]["ndarray"][0]))
                    return answer["meta"]["puid"], answer["data"]["names"][best]

            async def ready() -> bool:
                async with http.post(
                    f"{base}/predictions", json={"data": {"ndarray": [rows[0].tolist()]}}
                ) as resp:
                    return resp.status == 200

            deadline = time.monotonic() + 90
            while not await ready():
                assert time.monotonic() < deadline, "iris never answered"
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.5)
            await sink.flush()
            for key in store.list("inference-logs/"):  # the readiness probes' own records
                store.client.remove_object(store.settings.bucket, key)

            # A label may come before its prediction is logged: sent first, joined later.
            early = await http.post(
                f"{sink_url}/labels/{namespace}/iris",
                json={"labels": [{"id": "early-1", "truth": int(truth[29])}]},
            )
            assert early.status == 200
            answered = [await predict(r) for r in rows[:29]]
            kept, early_class = await predict(rows[29], puid="early-1")
            assert kept == "early-1"  # a client's own puid is kept, as the executor keeps it
            answered.append((kept, early_class))
            puids = [p for p, _ in answered]
            assert len(set(puids)) == 30

            # (a) Seldon's feedback API: forwarded to main, and logged with its truth.
            for i in range(10):
                feedback = {
                    "response": {"meta": {"puid": puids[i]}},
                    "truth": {"data": {"ndarray": [[int(truth[i])]]}},
                }
                async with http.post(f"{base}/feedback", json=feedback) as resp:
                    assert resp.status == 200, await resp.text()
            # (b) delayed labels by id, out of order; row 10 labelled twice (the later wins);
            # one id nobody predicted.
            later = [{"id": puids[i], "truth": int(truth[i])} for i in range(19, 9, -1)]
            wrong = (int(truth[10]) + 1) % 3
            batch = [{"id": puids[10], "truth": wrong}, *later[:5]]
            async with http.post(
                f"{sink_url}/labels/{namespace}/iris", json={"labels": batch}
            ) as resp:
                assert (resp.status, await resp.json()) == (200, {"accepted": 6})
            await asyncio.sleep(0.05)  # a later arrival than the first label of row 10
            async with http.post(
                f"{sink_url}/labels/{namespace}/iris",
                json={"labels": [*later[5:], {"id": "nobody", "truth": 1}]},
            ) as resp:
                assert resp.status == 200
            async with http.post(
                f"{sink_url}/labels/{namespace}/iris", json={"labels": [{"truth": 1}]}
            ) as resp:
                assert resp.status == 400
                assert "labels[0].id" in (await resp.json())["error"]
            await asyncio.sleep(1.0)  # the router's log posts are sent after each answer
        await sink.flush()
    finally:
        processes.stop(runtime.pid)
        await sink.close(runner)

    label_keys = store.list(f"inference-logs/{namespace}/iris/labels/")
    assert label_keys
    assert all(k.endswith(".parquet") for k in label_keys)
    responses, labels = inference_log.window(store, namespace, "iris", since_ms=0)
    assert set(responses["_version"]) == {"v1"}
    sources = sorted(labels["_source"].value_counts().items())
    assert sources == [("api", 13), ("feedback", 10)]  # api: 1 early, 6, 6
    outcome = live_quality.measure("classification", responses, labels, now=time.time() + 120)
    labelled = [*range(20), 29]
    # Row 10 was first labelled wrong, then right: the later label counts.
    expected_truth = [str(int(truth[i])) for i in labelled]
    predicted = [answered[i][1] for i in labelled]
    accuracy = float(np.mean([a == b for a, b in zip(expected_truth, predicted, strict=True)]))
    quality = outcome.versions["v1"]
    assert quality.rows == 21
    assert quality.metrics["accuracy"] == accuracy
    hits = [a == b for a, b in zip(expected_truth, predicted, strict=True)]
    first_wins = np.mean([*hits[:10], predicted[10] == str(wrong), *hits[11:]])
    assert first_wins != accuracy  # the test tells the two rules apart
    assert (outcome.duplicates, outcome.unmatched, outcome.pending) == (1, 1, 0)


async def test_sigterm_of_the_operator_loses_no_acknowledged_label(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    tmp_path: Path,
) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    sink_port = processes.free_port()
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, tmp_path / "p")
    operator, _metrics, _probe = stack.start_operator(
        kubeconfig=kube_cluster.kubeconfig,
        workdir=tmp_path,
        die_with_parent=True,
        env_extra={
            **env,
            "PACE_INFERENCE_SINK_PORT": str(sink_port),
            "PACE_WATCH_NAMESPACES": namespace,
        },
    )
    model = f"m{uuid.uuid4().hex[:6]}"
    sent = 0
    try:
        async with aiohttp.ClientSession() as http:
            for n in range(20):
                items = [{"id": f"p{n}-{i}", "truth": i % 3} for i in range(50)]
                async with http.post(
                    f"http://127.0.0.1:{sink_port}/labels/{namespace}/{model}",
                    json={"labels": items},
                ) as resp:
                    assert resp.status == 200
                    sent += (await resp.json())["accepted"]
    finally:
        processes.stop(operator.pid, grace=60)  # SIGTERM first, as a Pod's stop does
    assert "inference log sink flushed" in operator.log.read_text(), operator.tail()
    keys = store.list(f"inference-logs/{namespace}/{model}/labels/")
    frames = [pd.read_parquet(io.BytesIO(store.get(k))) for k in keys]
    written = pd.concat(frames) if frames else pd.DataFrame()
    assert sent == 1000
    assert len(written) == 1000
    assert written["_id"].nunique() == 1000

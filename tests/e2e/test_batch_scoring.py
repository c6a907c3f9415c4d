"""Scheduled batch scoring end to end: the operator runs the compiled batch pipeline on the
local backend at each schedule time; the second run scores only the files that arrived since.

Real servers: kube-apiserver, MinIO; kfp.local runs the pipeline in the operator's worker.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pace import audit_log
from pace.adapters import inference_log, metrics
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.api import constants
from pace.core import datasets, inference_records
from pace.localstack.minio import MinioInfo
from tests.e2e.test_train_and_register import RUN_TIMEOUT, conditions, get, operator_env, wine
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator

EVERY_MINUTE = "* * * * *"


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.drop(columns="target").to_csv(index=False).encode()


def test_two_scheduled_runs_the_second_scores_only_new_files(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    tmp_path: Path,
) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    frame = datasets.load_builtin("wine")
    store.put("drops/wine/day-1/a.csv", _csv(frame.iloc[:50]))
    store.put("drops/wine/day-1/b.csv", _csv(frame.iloc[50:80]))
    store.put("drops/wine/day-1/bad.csv", _csv(frame.iloc[:5]).replace(b"alcohol", b"alcool"))
    body = wine(
        "wine",
        explainability={"samples": 20},
        batch={
            "schedule": EVERY_MINUTE,
            "input": store.uri("drops/wine/"),
            "output": store.uri("scored/wine/"),
        },
    )
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, tmp_path / "p")

    def batch_status() -> dict[str, Any]:
        return dict(get(kube_cluster, namespace, "wine").get("status", {}).get("batch") or {})

    def ended(after: str | None) -> dict[str, Any] | None:
        last = batch_status().get("last") or {}
        if last.get("state") in ("Succeeded", "Failed") and last.get("run") != after:
            return dict(last)
        return None

    with running_operator(namespace, env_extra=env):
        kube_cluster.custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body
        )
        eventually(lambda: batch_status().get("nextRunAt"), what="status.batch.nextRunAt")
        eventually(
            lambda: get(kube_cluster, namespace, "wine")["status"].get("servingVersion") == "v1",
            timeout=RUN_TIMEOUT,
            interval=1,
            what="v1 serving",
        )
        first = eventually(lambda: ended(None), timeout=150, interval=1, what="the first run")
        assert first["state"] == "Succeeded", first
        assert first["version"] == "v1"
        assert (first["filesScored"], first["rowsScored"], first["filesSkipped"]) == (2, 80, 0)
        [failure] = first["failures"]
        assert failure["file"] == store.uri("drops/wine/day-1/bad.csv")
        assert "missing feature column(s) alcohol" in failure["message"]
        scheduled = datetime.fromisoformat(first["scheduledAt"])
        assert (scheduled.second, scheduled.microsecond) == (0, 0)  # a schedule time
        shown = conditions(get(kube_cluster, namespace, "wine"))["BatchScored"]
        assert (shown["status"], shown["reason"]) == ("False", "FilesFailed")
        assert "bad.csv" in shown["message"]
        out = pd.read_parquet(io.BytesIO(store.get("scored/wine/day-1/a.predictions.parquet")))
        assert len(out) == 50
        assert set(out["_version"]) == {"v1"}
        assert set(out["_run"]) == {first["run"]}

        # A new file arrives (and the bad one is fixed): the next schedule time scores only
        # those two.
        store.put("drops/wine/day-2/c.csv", _csv(frame.iloc[80:]))
        store.put("drops/wine/day-1/bad.csv", _csv(frame.iloc[:5]))
        second = eventually(
            lambda: ended(first["run"]), timeout=150, interval=1, what="the second run"
        )
        assert second["state"] == "Succeeded", second
        assert (second["filesScored"], second["rowsScored"], second["filesSkipped"]) == (
            2,
            len(frame) - 80 + 5,
            2,
        )
        assert second["failures"] == []
        assert datetime.fromisoformat(second["scheduledAt"]) > scheduled
        shown = conditions(get(kube_cluster, namespace, "wine"))["BatchScored"]
        assert (shown["status"], shown["reason"]) == ("True", "Scored")
        uid = get(kube_cluster, namespace, "wine")["metadata"]["uid"]
        sample = metrics.REGISTRY.get_sample_value
        assert (
            sample(
                "pace_batch_rows_scored_total",
                {"namespace": namespace, "model": "wine", "version": "v1"},
            )
            == 80 + len(frame) - 80 + 5
        )
        assert (
            sample("pace_batch_files_failed_total", {"namespace": namespace, "model": "wine"}) == 1
        )

    # The audit log says what was scored, by which version, in which run.
    history = audit_log.read_history(store, namespace=namespace, model="wine")
    scored = [e for e in history if e["type"] == "BatchScored"]
    assert [e["details"]["run"] for e in scored] == [first["run"], second["run"]]
    assert scored[0]["version"] == "v1"
    assert scored[0]["details"]["rowsScored"] == 80
    assert scored[0]["details"]["failures"][0]["file"] == store.uri("drops/wine/day-1/bad.csv")
    # The scored rows feed the inference log, where drift checks read requests.
    prefix = inference_records.model_prefix(namespace, "wine")
    keys = inference_log.batches_since(store, prefix, "requests", since_ms=0)
    logged = pd.concat(pd.read_parquet(io.BytesIO(store.get(k))) for k in keys)
    assert len(logged) == len(frame) + 5
    assert all("/batch/requests/" in k for k in keys)
    assert store.exists(f"batch/{namespace}/wine/{uid[:8]}/runs/{second['run']}.json")

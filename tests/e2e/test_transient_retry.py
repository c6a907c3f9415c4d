"""A run whose step fails because the object store went down is submitted again, and ends
with one version, once registered (a run that fails for good is not retried: see
test_train_and_register's wine-broken).

Real servers: kube-apiserver, and a MinIO of this test's own that it kills (SIGKILL) while
the pipeline trains and brings back on the same address with the same data.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.api import constants
from pace.core import transient
from pace.localstack import minio, processes
from tests.e2e.test_train_and_register import get, operator_env, wine
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator


@pytest.fixture
def own_minio(tmp_path: Path) -> Iterator[list[minio.MinioInfo]]:
    """A MinIO only this test uses (a list: the test replaces it with its restarted self)."""
    servers = [minio.start(tmp_path / "minio")]
    yield servers
    for server in servers:
        processes.stop(server.pid)


def _run_status(pipeline_dir: Path, namespace: str) -> dict[str, Any]:
    """The local worker's status.json of the namespace's only run ({} before it exists)."""
    for path in (pipeline_dir / "runs" / namespace).glob("*/status.json"):
        try:
            return dict(json.loads(path.read_text()))
        except ValueError:
            return {}
    return {}


def test_a_run_failed_by_the_store_going_down_is_retried_and_registers_once(
    kube_cluster: Cluster, namespace: str, own_minio: list[minio.MinioInfo], tmp_path: Path
) -> None:
    info = own_minio[0]
    settings = S3Settings(
        endpoint=info.endpoint,
        bucket="pace-retry",
        access_key=info.access_key,
        secret_key=info.secret_key,
    )
    pipeline_dir = tmp_path / "p"
    env = operator_env(kube_cluster, namespace, info, settings, pipeline_dir)
    with running_operator(namespace, env_extra=env):
        kube_cluster.custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, wine("wine")
        )
        # The store dies while the model trains: register-model (which writes the version)
        # cannot reach it.
        eventually(
            lambda: _run_status(pipeline_dir, namespace).get("step") == "train-model",
            timeout=180,
            interval=0.1,
            what="the run at train-model",
        )
        os.kill(info.pid, signal.SIGKILL)
        waiting = eventually(
            lambda: (
                (t := get(kube_cluster, namespace, "wine")["status"]["training"]).get("retryAt")
                and t
            ),
            timeout=240,
            interval=0.5,
            what="the run waiting to be retried",
            context=lambda: get(kube_cluster, namespace, "wine")["status"].get("training"),
        )
        assert waiting["retries"] == 0
        assert "transient error" in waiting["message"], waiting
        assert "retry 1 of 4" in waiting["message"], waiting
        assert transient.is_transient(_run_status(pipeline_dir, namespace)["message"])
        time.sleep(2)
        own_minio.append(minio.restart(info))

        done = eventually(
            lambda: (
                (t := get(kube_cluster, namespace, "wine")["status"]["training"])["state"]
                in ("Succeeded", "Failed")
                and t
            ),
            timeout=300,
            interval=1.0,
            what="the retried run to end",
        )
        assert done["state"] == "Succeeded", done
        assert done["retries"] == 1
        assert done.get("retryAt") is None
        status = get(kube_cluster, namespace, "wine")["status"]
        assert [v["version"] for v in status["versions"]] == ["v1"]
        assert status["servingVersion"] == "v1"

        store = ObjectStore(settings)
        uid = get(kube_cluster, namespace, "wine")["metadata"]["uid"][:8]
        lineage = store.get_json(f"models/{namespace}/wine/{uid}/versions/v1/lineage.json")
        assert lineage["pipelineRun"] == done["run"]
        # Every audit event of the run once: one start, one gate verdict, no failure.
        kinds = [k.rsplit("/", 1)[-1] for k in store.list(f"audit/{namespace}/wine/")]
        assert sum("TrainingStarted" in k for k in kinds) == 1, kinds
        assert sum("GatesPassed" in k for k in kinds) == 1, kinds
        assert not any("TrainingFailed" in k for k in kinds), kinds

        reasons = [
            e.reason
            for e in kube_cluster.core.list_namespaced_event(namespace).items
            if e.involved_object.name == "wine"
        ]
        assert reasons.count("TrainingRetrying") == 1, reasons

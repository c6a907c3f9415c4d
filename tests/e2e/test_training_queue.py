"""Twenty MLModels applied at once: the training queue runs at most PACE_MAX_TRAINING_RUNS at a
time (counted two ways: live pipeline workers on the machine, and runs in flight in the API
server), shows the others Queued with their position, and every model ends up serving.

Real servers: kube-apiserver, MinIO; runs through the local backend's warm step server.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from pace.adapters import pipeline_backend
from pace.adapters.object_store import S3Settings
from pace.api import constants
from pace.localstack.minio import MinioInfo
from tests.e2e.test_train_and_register import operator_env
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator

MODELS = 20
LIMIT = 3


def _model(name: str) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.MLMODEL_KIND,
        "metadata": {"name": name},
        "spec": {
            "task": "classification",
            "dataset": {"uri": "sklearn://iris", "target": "target"},
            "training": {"algorithm": "decision_tree", "hyperparameters": {"max_depth": 3}},
            "explainability": {"samples": 20},
        },
    }


def _live_workers(runs: Path) -> int:
    return sum(
        1
        for pid_file in runs.glob("*/*/worker.pid")
        if pipeline_backend._worker_alive(pid_file.parent)
    )


def test_twenty_models_queue_behind_the_limit_and_all_serve(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    tmp_path: Path,
) -> None:
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, tmp_path / "p")
    env["PACE_MAX_TRAINING_RUNS"] = str(LIMIT)
    runs = tmp_path / "p" / "runs"
    peaks = {
        "workers": 0,
        "in_flight": 0,
        "queued_with_position": 0,
        "queued_without_finalizer": 0,
        "in_flight_without_finalizer": 0,
    }
    stop = threading.Event()

    def list_models() -> list[dict[str, Any]]:
        listed = kube_cluster.custom.list_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL
        )
        return list(listed["items"])

    def sample() -> None:
        while not stop.is_set():
            peaks["workers"] = max(peaks["workers"], _live_workers(runs))
            listed = list_models()
            trainings = [(m.get("status") or {}).get("training") or {} for m in listed]
            in_flight = sum(t.get("state") in ("Pending", "Running") for t in trainings)
            peaks["in_flight"] = max(peaks["in_flight"], in_flight)
            queued = sum(t.get("state") == "Queued" and bool(t.get("position")) for t in trainings)
            peaks["queued_with_position"] = max(peaks["queued_with_position"], queued)
            # PACE's finalizer goes on when a model leaves the queue, before its run starts.
            held = [constants.FINALIZER in (m["metadata"].get("finalizers") or []) for m in listed]
            for key, state in (
                ("queued_without_finalizer", ("Queued",)),
                ("in_flight_without_finalizer", ("Pending", "Running", "Succeeded")),
            ):
                pairs = zip(trainings, held, strict=True)
                count = sum(t.get("state") in state and not h for t, h in pairs)
                peaks[key] = max(peaks[key], count)
            time.sleep(0.1)

    with running_operator(namespace, env_extra=env):
        started = time.monotonic()
        for i in range(MODELS):
            kube_cluster.custom.create_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.MLMODEL_PLURAL,
                _model(f"m{i:02d}"),
            )
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            eventually(
                lambda: all(
                    (m.get("status") or {}).get("servingVersion") == "v1" for m in list_models()
                ),
                timeout=600,
                interval=1.0,
                what="all twenty models serving v1",
            )
        finally:
            stop.set()
            sampler.join(5)
        elapsed = time.monotonic() - started
        models = list_models()
        sdeps = {
            name: kube_cluster.custom.get_namespaced_custom_object(
                "machinelearning.seldon.io", "v1", namespace, "seldondeployments", name
            )
            for name in (m["metadata"]["name"] for m in models)
        }
        # Deleted, trained models go: each one's cleanup ran and let it go.
        for model in models:
            kube_cluster.custom.delete_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.MLMODEL_PLURAL,
                model["metadata"]["name"],
            )
        eventually(lambda: not list_models(), timeout=60, what="every deleted model gone")
    assert len(models) == MODELS
    for model in models:
        status = model["status"]
        # No Seldon runs here: the version is in the SeldonDeployment, but nothing answers, so
        # the model is not Ready and says why.
        ready = {c["type"]: c for c in status["conditions"]}["Ready"]
        assert (ready["status"], ready["reason"]) == ("False", "PredictorStarting"), status
        assert "is not reported yet" in ready["message"]
        assert status["training"]["state"] == "Succeeded"
        assert status["training"]["attempts"] == 1
        sdep = sdeps[model["metadata"]["name"]]
        [main] = sdep["spec"]["predictors"]
        assert main["labels"]["mlops.pace.dev/version"] == "v1"
    # Never more than the limit at once, counted on the machine and in the API server.
    assert 1 <= peaks["workers"] <= LIMIT, peaks
    assert peaks["in_flight"] <= LIMIT, peaks
    assert peaks["queued_with_position"] >= MODELS - LIMIT - 2, peaks
    assert peaks["queued_without_finalizer"] >= MODELS - LIMIT - 2, peaks
    assert peaks["in_flight_without_finalizer"] == 0, peaks
    assert all(model["metadata"]["finalizers"] == [constants.FINALIZER] for model in models)
    # Finished runs leave no folder behind.
    assert not list(runs.glob("*/*/worker.pid"))
    print(f"20 models trained and serving in {elapsed:.1f}s with {LIMIT} at a time; {peaks}")

"""MLModel → compiled pipeline → local kfp run → version in MinIO and in status.

Real servers: kube-apiserver, MinIO; the pipeline runs with kfp.local's SubprocessRunner in
the operator's worker process. Several models train at once to keep the test short.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import kubernetes
import pytest
import yaml
from kopf.testing import KopfRunner

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.api import constants
from pace.core import inference_records
from pace.localstack import processes
from pace.localstack.minio import MinioInfo
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator
from tests.servers.serving import ServingRuntime

SAMPLES = Path(__file__).parents[2] / "manifests" / "samples"
RUN_TIMEOUT = 300.0


def wine(name: str, **spec_changes: Any) -> dict[str, Any]:
    """The sample wine MLModel without its learning-loop settings (``dataset.recent``,
    ``liveQuality``, ``serving.canary.liveGate``: tests of them add them), then the
    changes."""
    body = dict(yaml.safe_load((SAMPLES / "mlmodel_wine.yaml").read_text()))
    body = copy.deepcopy(body)
    body["metadata"]["name"] = name
    body["spec"]["dataset"].pop("recent", None)
    body["spec"].pop("liveQuality", None)
    body["spec"]["serving"]["canary"].pop("liveGate", None)
    body["spec"].update(spec_changes)
    return body


def get(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, name
    )
    return obj


def run_state(cluster: Cluster, namespace: str, name: str) -> str | None:
    training = get(cluster, namespace, name).get("status", {}).get("training") or {}
    state = training.get("state")
    return state if state in ("Succeeded", "Failed") else None


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}


def operator_env(
    cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    pipeline_dir: Path,
) -> dict[str, str]:
    """Operator settings: MinIO credentials in a Secret, the local pipeline backend."""
    cluster.core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "pace-s3"},
            "data": {
                "accessKey": base64.b64encode(minio_server.access_key.encode()).decode(),
                "secretKey": base64.b64encode(minio_server.secret_key.encode()).decode(),
            },
        },
    )
    return {
        "PACE_S3_ENDPOINT": s3_settings.endpoint,
        "PACE_S3_BUCKET": s3_settings.bucket,
        "PACE_S3_CREDENTIALS_SECRET": f"{namespace}/pace-s3",
        "PACE_PIPELINE_DIR": str(pipeline_dir),
        "PACE_PIPELINE_BACKEND": "local",
    }


@pytest.fixture
def trainer(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    tmp_path: Path,
) -> Iterator[tuple[KopfRunner, ObjectStore]]:
    """The operator with MinIO credentials from a Secret and the local pipeline backend."""
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, tmp_path / "p")
    with running_operator(namespace, env_extra=env) as runner:
        yield runner, ObjectStore(s3_settings)


def test_models_train_register_and_gate(
    kube_cluster: Cluster, namespace: str, trainer: tuple[KopfRunner, ObjectStore]
) -> None:
    _runner, store = trainer
    create = kube_cluster.custom.create_namespaced_custom_object
    create(constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, wine("wine"))
    create(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, wine("wine-twin")
    )
    create(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.MLMODEL_PLURAL,
        wine(
            "wine-strict",
            qualityGates={
                "metrics": [{"metric": "accuracy", "min": 0.999}, {"metric": "f1", "min": 0.5}]
            },
            training={"algorithm": "logistic_regression", "hyperparameters": {"C": 0.0001}},
        ),
    )
    broken = wine("wine-broken")
    broken["spec"]["dataset"]["target"] = "no_such_column"
    create(constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, broken)

    # While it runs, status shows the run and its current step.
    running = eventually(
        lambda: (
            (t := get(kube_cluster, namespace, "wine").get("status", {}).get("training"))
            and t.get("step")
            and t
        ),
        timeout=120,
        what="a current step",
    )
    assert running["run"].startswith("wine-v1-")
    assert running["version"] == "v1"
    assert running["trigger"] == "create"

    for name in ("wine", "wine-twin", "wine-strict", "wine-broken"):
        eventually(
            lambda n=name: run_state(kube_cluster, namespace, n),
            timeout=RUN_TIMEOUT,
            interval=1.0,
            what=f"{name} run to finish",
        )

    # --- a passing model: version in status and in MinIO, with lineage
    obj = get(kube_cluster, namespace, "wine")
    status = obj["status"]
    assert status["training"]["state"] == "Succeeded", status["training"]
    [version] = status["versions"]
    assert version["version"] == "v1"
    assert version["stage"] == "production"  # nothing served before: straight to 100 %
    assert status["servingVersion"] == "v1"
    assert status.get("candidateVersion") is None
    assert version["metrics"]["accuracy"] >= 0.8
    assert version["dataHash"].startswith("sha256:")
    assert version["pipelineRun"] == status["training"]["run"]
    assert version["trigger"] == "create"
    conds = conditions(obj)
    assert conds["Trained"]["status"] == "True"
    assert conds["Validated"]["status"] == "True"
    uid = obj["metadata"]["uid"][:8]
    prefix = f"models/{namespace}/wine/{uid}/versions/v1/"
    keys = set(store.list(prefix))
    for artifact in (
        "model.joblib",
        "metrics.json",
        "explanation.json",
        "explanation.png",
        "reference.parquet",
        "reference.json",
        "lineage.json",
        "pipeline.yaml",
        "validation.json",
        "verdict.json",
        "search.json",
    ):
        assert prefix + artifact in keys, artifact
    lineage = store.get_json(prefix + "lineage.json")
    assert lineage["pipelineRun"] == version["pipelineRun"]
    assert lineage["data"] == {"uri": "sklearn://wine", "hash": version["dataHash"]}
    assert lineage["metrics"] == version["metrics"]
    assert lineage["specHash"] == version["specHash"]
    assert lineage["params"] == {"n_estimators": 50}
    assert {"scikit-learn", "kfp", "python"} <= set(lineage["packages"])
    assert version["artifactUri"] == f"s3://{store.bucket}/{prefix}model.joblib"
    assert store.get(prefix + "explanation.png").startswith(b"\x89PNG")
    assert json.loads(store.get(prefix + "metrics.json")) == version["metrics"]
    model = joblib.load(io.BytesIO(store.get(prefix + "model.joblib")))
    assert hasattr(model, "predict_proba")
    # The compiled IR kept with the version loads back with the kfp SDK.
    from kfp import components

    ir_text = store.get(prefix + "pipeline.yaml").decode()
    loaded = components.load_component_from_text(ir_text)
    assert loaded.name == "pace-training"

    # --- the same spec on the same data gives identical metrics and data hash
    twin = get(kube_cluster, namespace, "wine-twin")["status"]["versions"][0]
    assert twin["metrics"] == version["metrics"]
    assert twin["dataHash"] == version["dataHash"]
    assert twin["specHash"] == version["specHash"]

    # --- below its quality gate: never a candidate, and status names the gate
    strict = get(kube_cluster, namespace, "wine-strict")
    assert strict["status"].get("candidateVersion") is None
    assert strict["status"]["versions"][0]["stage"] == "rejected"
    validated = conditions(strict)["Validated"]
    assert validated["status"] == "False"
    assert validated["reason"] == "GateFailed"
    assert "accuracy" in validated["message"]
    assert "min 0.999" in validated["message"]
    assert strict["status"]["phase"] == "Failed"

    # --- a failing step is named, with its message, in a condition and an event
    broken_obj = get(kube_cluster, namespace, "wine-broken")
    trained = conditions(broken_obj)["Trained"]
    assert trained["status"] == "False"
    assert trained["reason"] == "PipelineFailed"
    assert "'load-data'" in trained["message"]
    assert "no_such_column" in trained["message"]
    assert broken_obj["status"]["training"]["failedStep"] == "load-data"
    assert broken_obj["status"]["training"].get("retries", 0) == 0  # a bad spec: not retried
    events = [
        e
        for e in kube_cluster.core.list_namespaced_event(namespace).items
        if e.involved_object.name == "wine-broken" and e.reason == "PipelineFailed"
    ]
    assert events
    assert events[0].type == "Warning"


def test_only_training_changes_start_a_new_run(
    kube_cluster: Cluster,
    namespace: str,
    trainer: tuple[KopfRunner, ObjectStore],
    serving: ServingRuntime,
) -> None:
    """Serving changes start no run; a training change does. Then the rollout lifecycle
    without Prometheus: the canary holds (one event, one audit record, a write per interval,
    not per tick), a training change mid-canary supersedes it, and the progress deadline ends
    a canary that never gets a verdict."""
    _runner, store = trainer
    kube_cluster.custom.create_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.MLMODEL_PLURAL,
        wine(
            "iris",
            task="classification",
            dataset={"uri": "sklearn://iris", "target": "target"},
            training={"algorithm": "decision_tree", "hyperparameters": {"max_depth": 3}},
            explainability={"samples": 20},
            # Every version is a candidate (the rollout is what this test follows).
            qualityGates={"metrics": [{"metric": "accuracy", "min": 0.5}], "minDelta": -1},
        ),
    )
    eventually(
        lambda: run_state(kube_cluster, namespace, "iris"),
        timeout=RUN_TIMEOUT,
        interval=1.0,
        what="first run",
    )
    first = get(kube_cluster, namespace, "iris")["status"]["training"]

    # Canary settings only: no new run.
    patch_spec(
        kube_cluster,
        namespace,
        {"serving": {"canary": {"steps": [50, 100], "interval": "3s", "progressDeadline": "1h"}}},
    )
    eventually(
        lambda: get(kube_cluster, namespace, "iris")["status"]["observedGeneration"] == 2,
        what="generation 2 observed",
    )
    assert get(kube_cluster, namespace, "iris")["status"]["training"]["run"] == first["run"]

    # A hyperparameter: a new run registers v2, which becomes the canary.
    patch_spec(kube_cluster, namespace, {"training": {"hyperparameters": {"max_depth": 2}}})
    eventually(
        lambda: get(kube_cluster, namespace, "iris")["status"]["training"]["run"] != first["run"],
        what="a second run",
    )
    second = get(kube_cluster, namespace, "iris")["status"]["training"]
    assert second["version"] == "v2"
    assert second["trigger"] == "spec-change"
    eventually(
        lambda: run_state(kube_cluster, namespace, "iris"),
        timeout=RUN_TIMEOUT,
        interval=1.0,
        what="second run",
    )
    versions = get(kube_cluster, namespace, "iris")["status"]["versions"]
    assert [v["version"] for v in versions] == ["v1", "v2"]
    assert versions[0]["specHash"] != versions[1]["specHash"]
    uid = get(kube_cluster, namespace, "iris")["metadata"]["uid"][:8]
    assert store.exists(f"models/{namespace}/iris/{uid}/versions/v2/lineage.json")

    # No Prometheus: once its predictor answers, the canary holds, says why once, and writes
    # once per interval.
    status = eventually(
        lambda: (
            ((s := get(kube_cluster, namespace, "iris")["status"]).get("canary") or {}).get(
                "holding"
            )
            == "MetricsUnavailable"
            and s
        ),
        timeout=90,
        what="the canary holding for lack of metrics",
    )
    assert status["candidateVersion"] == "v2"
    assert conditions({"status": status})["CanaryHealthy"]["reason"] == "Progressing"
    writes_before = _status_writes()
    time.sleep(12)  # four 3 s intervals
    writes = _status_writes() - writes_before
    assert 2 <= writes <= 6, f"{writes} status writes in 12 s of holding (interval 3 s)"
    held = [
        e
        for e in kube_cluster.core.list_namespaced_event(namespace).items
        if e.involved_object.name == "iris" and e.reason == "MetricsUnavailable"
    ]
    assert len(held) == 1, held
    assert held[0].type == "Warning"
    assert (held[0].count or 1) == 1
    audit_keys = [k for k in store.list(f"audit/{namespace}/iris/") if "MetricsUnavailable" in k]
    assert len(audit_keys) == 1, audit_keys

    # A training change mid-canary: v2 is superseded (main only again), v3 trains.
    patch_spec(kube_cluster, namespace, {"training": {"hyperparameters": {"max_depth": 4}}})
    status = eventually(
        lambda: (
            (s := get(kube_cluster, namespace, "iris")["status"])["training"]["version"] == "v3"
            and s
        ),
        what="v3 queued after the supersede",
    )
    stages = {v["version"]: v["stage"] for v in status["versions"]}
    assert stages == {"v1": "production", "v2": "superseded"}, stages
    assert status.get("candidateVersion") is None
    assert status.get("canary") is None
    sdep = kube_cluster.custom.get_namespaced_custom_object(
        "machinelearning.seldon.io", "v1", namespace, "seldondeployments", "iris"
    )
    assert [p["name"] for p in sdep["spec"]["predictors"]] == ["main"]
    assert conditions({"status": status})["CanaryHealthy"]["reason"] == "Superseded"

    # v3 canaries with a short progress deadline: no verdict ever comes, so it is rolled back.
    patch_spec(kube_cluster, namespace, {"serving": {"canary": {"progressDeadline": "8s"}}})
    status = eventually(
        lambda: (
            (s := get(kube_cluster, namespace, "iris")["status"])
            .get("versions", [{}])[-1]
            .get("stage")
            == "rejected"
            and s
        ),
        timeout=RUN_TIMEOUT,
        interval=1.0,
        what="v3 rolled back at its progress deadline",
    )
    assert status["versions"][-1]["version"] == "v3"
    assert status["servingVersion"] == "v1"
    canary_healthy = conditions({"status": status})["CanaryHealthy"]
    assert (canary_healthy["status"], canary_healthy["reason"]) == (
        "False",
        "ProgressDeadlineExceeded",
    )
    assert "progressDeadline 8s" in canary_healthy["message"]


def _status_writes() -> float:
    from pace.adapters import metrics

    value = metrics.REGISTRY.get_sample_value(
        "pace_status_writes_total", {"kind": constants.MLMODEL_KIND}
    )
    return value or 0.0


def patch_spec(cluster: Cluster, namespace: str, spec: dict[str, Any]) -> None:
    cluster.custom.patch_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.MLMODEL_PLURAL,
        "iris",
        {"spec": spec},
    )


def store_of(settings: S3Settings) -> ObjectStore:
    return ObjectStore(settings)


def test_restart_mid_run_does_not_start_another(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    tmp_path: Path,
) -> None:
    """The operator stops while a run is in flight; the restarted one resumes watching it."""
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, tmp_path / "p")
    with running_operator(namespace, env_extra=env):
        kube_cluster.custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, wine("wine")
        )
        eventually(
            lambda: (
                (get(kube_cluster, namespace, "wine").get("status", {}).get("training") or {}).get(
                    "state"
                )
                == "Running"
            ),
            timeout=120,
            what="the run to be running",
        )
    before = get(kube_cluster, namespace, "wine")["status"]["training"]
    with running_operator(namespace, env_extra=env):
        eventually(
            lambda: run_state(kube_cluster, namespace, "wine"),
            timeout=RUN_TIMEOUT,
            interval=1.0,
            what="the run to finish",
        )
    status = get(kube_cluster, namespace, "wine")["status"]
    assert status["training"]["run"] == before["run"]
    assert status["training"]["attempts"] == 1
    assert status["training"]["state"] == "Succeeded"
    assert [v["version"] for v in status["versions"]] == ["v1"]
    # One run was started, and its folder was removed once v1 was recorded.
    started = [
        k for k in store_of(s3_settings).list(f"audit/{namespace}/wine/") if "TrainingStarted" in k
    ]
    assert len(started) == 1, started
    eventually(
        lambda: not any((tmp_path / "p" / "runs" / namespace).iterdir()),
        what="the finished run's folder removed",
    )


def test_a_model_created_again_starts_afresh(
    kube_cluster: Cluster, namespace: str, trainer: tuple[KopfRunner, ObjectStore]
) -> None:
    """Delete a model and create it again under the same name: v1 again, its own run and its
    own registry prefix (the uid's); the old version's artifacts are neither adopted nor
    touched."""
    _runner, store = trainer
    body = wine(
        "again",
        dataset={"uri": "sklearn://iris", "target": "target"},
        training={"algorithm": "decision_tree", "hyperparameters": {"max_depth": 3}},
        explainability={"samples": 20},
    )
    api = kube_cluster.custom

    def serving() -> dict[str, Any] | None:
        found = api.get_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, "again"
        )
        return found if (found.get("status") or {}).get("servingVersion") == "v1" else None

    api.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body
    )
    def shown() -> dict[str, Any]:  # what the user sees, to tell why a wait timed out
        try:
            status = get(kube_cluster, namespace, "again").get("status") or {}
        except kubernetes.client.exceptions.ApiException as exc:
            return {"error": exc.status}
        return {k: status.get(k) for k in ("training", "conditions", "servingVersion")}

    first = eventually(
        serving,
        timeout=RUN_TIMEOUT,
        interval=1.0,
        what="the first model serving",
        context=shown,
    )
    first_uri = first["status"]["versions"][0]["artifactUri"]
    first_lineage = (
        f"models/{namespace}/again/{first['metadata']['uid'][:8]}/versions/v1/lineage.json"
    )
    before = store.get(first_lineage)

    api.delete_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, "again"
    )

    def gone() -> bool:
        try:
            api.get_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, "again"
            )
        except kubernetes.client.exceptions.ApiException as exc:
            return exc.status == 404
        return False

    eventually(gone, what="the model deleted (the operator releases its finalizer)")
    api.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body
    )
    second = eventually(
        lambda: (s := serving()) and s["metadata"]["uid"] != first["metadata"]["uid"] and s,
        timeout=RUN_TIMEOUT,
        interval=1.0,
        what="the model created again serving its own v1",
        context=shown,
    )
    [version] = second["status"]["versions"]
    assert version["version"] == "v1"
    assert version["trigger"] == "create"
    assert second["metadata"]["uid"][:8] in version["artifactUri"]
    assert version["artifactUri"] != first_uri
    assert version["pipelineRun"] != first["status"]["versions"][0]["pipelineRun"]
    assert store.get(first_lineage) == before  # the old version is kept as it was


def test_the_operator_expires_a_models_inference_log(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    tmp_path: Path,
) -> None:
    """spec.retention.inferenceLog 1m: batches older than a minute leave the bucket (a past
    day's partition whole), newer ones and another model's stay; the deletions are counted."""
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    now = datetime.now(UTC)

    def put(model: str, at: datetime) -> str:
        stream = inference_records.Stream(namespace, model, "main", "request")
        key = inference_records.object_key(stream, at=at)
        store.put(key, b"PAR1")
        return key

    old = [put("kept", now - timedelta(days=2)), put("kept", now - timedelta(minutes=5))]
    fresh = put("kept", now)
    other = put("other", now - timedelta(days=2))
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, tmp_path / "p")
    port = processes.free_port()
    with running_operator(namespace, metrics_port=port, env_extra=env):
        body = wine("kept", retention={"inferenceLog": "1m"}, liveQuality={"window": "30s"})
        kube_cluster.custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body
        )
        logged = inference_records.model_prefix(namespace, "kept")
        eventually(
            lambda: not any(store.exists(k) for k in old),
            timeout=40,
            what="the expired batches deleted",
            context=lambda: store.list(logged),
        )
        assert store.list(logged) == [fresh]
        assert store.exists(other)
        counted = (
            f'pace_inference_log_expired_batches_total{{model="kept",namespace="{namespace}"}} 2.0'
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert counted in response.read().decode()


def test_a_failing_reconcile_is_shown_on_the_object_once_and_cleared(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    tmp_path: Path,
) -> None:
    """The operator's pipeline folder is a file (a misconfigured volume): every look fails.
    The object shows it (Reconciled=False with the error, one Warning event however often it
    repeats); an operator restarted with a usable folder clears it and trains."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, blocked)

    def reconciled() -> dict[str, Any] | None:
        return conditions(get(kube_cluster, namespace, "blocked")).get("Reconciled")

    def error_events() -> list[Any]:
        listed = kube_cluster.core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=blocked,reason=ReconcileError"
        )
        return list(listed.items)

    with running_operator(namespace, env_extra=env):
        kube_cluster.custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, wine("blocked")
        )
        failed = eventually(
            lambda: (c := reconciled()) and c["status"] == "False" and c, timeout=60
        )
        assert failed["reason"] == "ReconcileError"
        assert "not-a-folder" in failed["message"], failed
        time.sleep(8)  # retries at 1, 2, 4 s: the same error, so nothing more is written
        assert reconciled() == failed
        shown = eventually(error_events, timeout=10, what="the Warning event")
        assert len(shown) == 1
        assert shown[0].type == "Warning"
        assert shown[0].count in (None, 1)
        assert "not-a-folder" in shown[0].message

    env["PACE_PIPELINE_DIR"] = str(tmp_path / "p")
    with running_operator(namespace, env_extra=env):
        recovered = eventually(
            lambda: (c := reconciled()) and c["status"] == "True" and c, timeout=60
        )
        assert recovered["reason"] == "Recovered"
        eventually(
            lambda: run_state(kube_cluster, namespace, "blocked"),
            timeout=RUN_TIMEOUT,
            what="the run",
        )
        assert run_state(kube_cluster, namespace, "blocked") == "Succeeded"

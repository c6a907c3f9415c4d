"""The closed loop end to end: drift → retrain → canary → promote, a retrain whose candidate
fails its gate, and a retrain held for `pace promote` — with the audit trail read back.

Real servers: kube-apiserver, MinIO, Prometheus (Debian), the local serving runtime (router +
seldon-core microservices), the operator's inference sink. Three models run at once:

- ``wine``: a RetrainPolicy with a drift trigger (2 checks in a row). Traffic flows through the
  router, is logged to MinIO, the DriftMonitor flags it once the inputs are shifted, the policy
  fires, v2 is trained, canaried under that traffic and promoted. The operator is restarted
  right after the trigger fired: still exactly one retrain.
- ``strict``: a metric trigger (PromQL ``vector(1)`` above 0.5) and ``minDelta: 0.05``; the
  retrained v2 is as good as v1, so its gate fails: v1 keeps serving and the audit says why.
- ``held``: a newData trigger (rows uploaded under a prefix) with ``autoPromote: false``: v2
  waits as a validated candidate until `pace promote`.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.datasets import load_wine

from pace.adapters.kube_api import KubeApi
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.adapters.prometheus_api import PrometheusApi
from pace.api import constants
from pace.core import serving_credentials, sink_auth
from pace.localstack import binaries, processes
from pace.localstack.minio import MinioInfo
from tests.e2e.test_canary_rollout import Traffic
from tests.e2e.test_train_and_register import operator_env, wine
from tests.servers import secret_scan
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator
from tests.servers.rbac import operator_kubeconfig
from tests.servers.serving import ServingRuntime, running_prometheus

ROOT = Path(__file__).resolve().parents[2]
PLURALS = {
    "MLModel": constants.MLMODEL_PLURAL,
    "DriftMonitor": constants.DRIFT_MONITOR_PLURAL,
    "RetrainPolicy": constants.RETRAIN_POLICY_PLURAL,
}


def obj(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, PLURALS[kind], name
    )
    return found


def status(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return dict(obj(cluster, namespace, kind, name).get("status") or {})


def create(cluster: Cluster, namespace: str, body: dict[str, Any]) -> None:
    body = {"apiVersion": constants.API_VERSION, **body}
    cluster.custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, PLURALS[body["kind"]], body
    )


def policy(name: str, triggers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "kind": "RetrainPolicy",
        "metadata": {"name": name},
        "spec": {"modelRef": {"name": name}, "triggers": triggers, "cooldown": "10m", **spec},
    }


def stages(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    versions = status(cluster, namespace, "MLModel", name).get("versions", [])
    return {v["version"]: v["stage"] for v in versions}


def model_drift(cluster: Cluster, namespace: str) -> dict[str, Any]:
    conditions = status(cluster, namespace, "MLModel", "wine").get("conditions", [])
    return next((c for c in conditions if c["type"] == "DriftDetected"), {"status": None})


DASHBOARD = Path(__file__).resolve().parents[2] / "manifests" / "grafana" / "pace-dashboard.json"
# No reconcile failed in this loop, and its traffic carries no labels (the live panels are
# checked by tests/e2e/test_live_quality.py).
MAY_BE_EMPTY = {"Reconcile errors", "Live metric per version"}


def check_dashboard(prometheus: PrometheusApi, namespace: str) -> None:
    """Every variable and panel query of the dashboard is valid PromQL with the variables of
    the wine model substituted, and returns series (but for MAY_BE_EMPTY)."""
    dashboard = json.loads(DASHBOARD.read_text())
    values = {"$namespace": namespace, "$model": "wine", "$monitor": "wine"}

    def substitute(expr: str) -> str:
        for name, value in values.items():
            expr = expr.replace(name, value)
        return expr

    now = time.time()
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        inner = variable["query"]["query"].removeprefix("label_values(").rsplit(",", 1)
        selector, label = substitute(inner[0]), inner[1].strip(" )")
        found = prometheus.query_range(selector, start=now - 60, end=now, step=5)
        assert any(series.labels.get(label) for series in found), variable["name"]
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            found = prometheus.query_range(
                substitute(target["expr"]), start=now - 120, end=now, step=5
            )
            assert found or panel["title"] in MAY_BE_EMPTY, panel["title"]


def traffic_logged(settings: S3Settings, namespace: str) -> int:
    """Request rows of wine in the inference log."""
    store = ObjectStore(settings)
    keys = [k for k in store.list(f"inference-logs/{namespace}/wine/") if "/requests/" in k]
    return sum(len(pd.read_parquet(io.BytesIO(store.get(k)))) for k in keys)


def shown_and_kept(cluster: Cluster, namespace: str, settings: S3Settings) -> dict[str, bytes]:
    """Everything a user sees or PACE keeps: the objects (status, annotations), the events,
    every object in the bucket (versions, lineage, audit, compiled pipelines, the log), and
    the chart as rendered."""
    found: dict[str, bytes] = {}
    for kind, plural in PLURALS.items():
        listed = cluster.custom.list_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, plural
        )
        for item in listed["items"]:
            found[f"{kind} {item['metadata']['name']}"] = json.dumps(item).encode()
    events = cluster.core.list_namespaced_event(namespace)
    found["events"] = json.dumps(cluster.client.sanitize_for_serialization(events)).encode()
    store = ObjectStore(settings)
    for key in store.list(""):
        found[store.uri(key)] = store.get(key)
    chart = subprocess.run(
        [str(binaries.locate("helm")), "template", "pace", str(ROOT / "charts" / "pace")],
        capture_output=True,
        check=True,
    )
    found["rendered chart"] = chart.stdout
    return found


def pace(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pace.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


def history(namespace: str, model: str, env: dict[str, str]) -> list[dict[str, Any]]:
    result = pace("history", model, "-n", namespace, "--json", env=env)
    assert result.returncode == 0, result.stderr
    records: list[dict[str, Any]] = json.loads(result.stdout)
    return records


def test_drift_retrains_canaries_and_promotes_gate_failure_and_held_candidate(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    serving: ServingRuntime,
    tmp_path: Path,
) -> None:
    metrics_port, sink_port = processes.free_port(), processes.free_port()
    prom = running_prometheus(
        tmp_path / "prom",
        {"router": serving.metrics_target, "operator": f"127.0.0.1:{metrics_port}"},
    )
    prom_info = next(prom)
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, tmp_path / "p")
    # The sink takes records only with this namespace's token (the logger URLs carry it).
    sink_key = secrets.token_hex(32)
    KubeApi(kube_cluster.client).apply_secret(namespace, "pace-sink-auth", {"key": sink_key})
    env |= {
        "PACE_INFERENCE_SINK_AUTH_SECRET": f"{namespace}/pace-sink-auth",
        # Least privilege: the operator signs in as the ServiceAccount of manifests/rbac.
        "KUBECONFIG": operator_kubeconfig(kube_cluster, namespace, tmp_path / "rbac"),
        "PACE_PROMETHEUS_URL": prom_info.url,
        "PACE_SERVING_GATEWAY": serving.url,
        "PACE_INFERENCE_SINK_PORT": str(sink_port),
        "PACE_INFERENCE_LOG_URL": f"http://127.0.0.1:{sink_port}/",
    }
    cli_env = {
        "KUBECONFIG": kube_cluster.kubeconfig,
        "PACE_S3_ENDPOINT": s3_settings.endpoint,
        "PACE_S3_BUCKET": s3_settings.bucket,
        "PACE_S3_CREDENTIALS_SECRET": f"{namespace}/pace-s3",
    }
    canary = {"steps": [50, 100], "interval": "4s", "maxFailedChecks": 1}
    create(kube_cluster, namespace, {"kind": "MLModel", **wine("wine", serving={"canary": canary})})
    strict = wine("strict", qualityGates={"metrics": [{"metric": "accuracy", "min": 0.8}]})
    strict["spec"]["qualityGates"]["minDelta"] = 0.05
    create(kube_cluster, namespace, {"kind": "MLModel", **strict})
    create(
        kube_cluster,
        namespace,
        {"kind": "MLModel", **wine("held", serving={"canary": {"steps": [100]}})},
    )
    create(
        kube_cluster,
        namespace,
        {
            "kind": "DriftMonitor",
            "metadata": {"name": "wine"},
            "spec": {
                "modelRef": {"name": "wine"},
                "source": {"window": {"rows": 150}, "minRows": 50},
                "detector": {"type": "tabular", "pValue": 0.01},
                "interval": "3s",
            },
        },
    )
    create(
        kube_cluster,
        namespace,
        policy("wine", {"drift": {"monitorRef": {"name": "wine"}, "consecutiveChecks": 2}}),
    )
    create(
        kube_cluster,
        namespace,
        policy("strict", {"metric": {"query": "vector(1)", "threshold": 0.5, "operator": "above"}}),
    )
    incoming = f"s3://{s3_settings.bucket}/incoming/held/"
    create(
        kube_cluster,
        namespace,
        policy("held", {"newData": {"prefix": incoming, "minRows": 50}}, autoPromote=False),
    )
    traffic = Traffic(f"{serving.url}/seldon/{namespace}/wine/api/v1.0/predictions")

    def sdep_status(name: str) -> dict[str, Any]:
        found = kube_cluster.custom.get_namespaced_custom_object(
            "machinelearning.seldon.io", "v1", namespace, "seldondeployments", name
        )
        return dict(found.get("status") or {}) | {"generation": found["metadata"]["generation"]}

    try:
        with running_operator(namespace, metrics_port=metrics_port, env_extra=env) as run_1:
            for name in ("wine", "strict", "held"):
                eventually(
                    lambda n=name: (
                        status(kube_cluster, namespace, "MLModel", n).get(  # type: ignore[misc]
                            "servingVersion"
                        )
                        == "v1"
                    ),
                    timeout=400,
                    interval=1,
                    what=f"{name} v1 serving",
                )
            # Before any shift: the monitor judges the live traffic and finds no drift; the
            # drift policy does not fire.
            traffic.thread.start()
            eventually(
                lambda: (
                    status(kube_cluster, namespace, "DriftMonitor", "wine").get("driftDetected")
                    is False
                ),
                timeout=120,
                what="a no-drift verdict on unshifted traffic",
            )
            quiet = status(kube_cluster, namespace, "RetrainPolicy", "wine")
            assert quiet.get("triggerCount", 0) == 0
            assert quiet["holding"] == "no trigger is due"
            eventually(
                lambda: model_drift(kube_cluster, namespace)["status"] == "False",
                timeout=30,
                what="the MLModel's DriftDetected=False",
            )

            # New rows for `held` arrive under its prefix.
            rows = pd.DataFrame(load_wine().data[:60], columns=load_wine().feature_names)
            ObjectStore(s3_settings).put(
                "incoming/held/batch-1.csv", rows.to_csv(index=False).encode()
            )

            # Shift three inputs by 30 %: drift, twice in a row, fires the wine policy.
            traffic.shift = {0: 1.3, 9: 1.3, 12: 1.3}
            fired = eventually(
                lambda: (
                    (s := status(kube_cluster, namespace, "RetrainPolicy", "wine")).get(
                        "triggerCount"
                    )
                    == 1
                    and s
                ),
                timeout=120,
                what="the drift policy to fire",
            )
            assert fired["lastTrigger"]["reason"].startswith(
                "drift: wine reported drift in 2 consecutive checks"
            )
            request = fired["lastTrigger"]["request"]
            assert request.startswith("wine#1@")

        # The operator stopped right after firing. Say the policy's status patches were lost in
        # that restart (kopf writes it after the request): the restarted operator finds its
        # request taken by the model and counts it — no second firing, one v2 run.
        kube_cluster.custom.patch_namespaced_custom_object_status(
            constants.GROUP,
            constants.VERSION,
            namespace,
            constants.RETRAIN_POLICY_PLURAL,
            "wine",
            {
                "status": {
                    "triggerCount": 0,
                    "lastTrigger": None,
                    "consecutiveDriftChecks": 1,
                    "runsStarted": 0,
                }
            },
        )
        with running_operator(namespace, metrics_port=metrics_port, env_extra=env) as run_2:
            started = eventually(
                lambda: (
                    (s := status(kube_cluster, namespace, "RetrainPolicy", "wine"))
                    .get("lastTrigger", {})
                    .get("run")
                    and s
                ),
                timeout=30,
                what="the run the wine policy started, recovered",
            )
            assert started["lastTrigger"]["run"].startswith("wine-v2-")
            assert started["lastTrigger"]["request"] == request
            assert started["lastTrigger"]["reason"].startswith("drift: wine reported drift")
            assert (started["triggerCount"], started["runsStarted"]) == (1, 1)
            # And the model's removal of the request annotation was lost too: it is put
            # back; the model knows it took it, removes it, and starts nothing.
            kube_cluster.custom.patch_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.MLMODEL_PLURAL,
                "wine",
                {
                    "metadata": {
                        "annotations": {
                            "mlops.pace.dev/retrain": json.dumps(
                                {"id": request, "reason": "replayed", "autoPromote": True}
                            )
                        }
                    }
                },
            )
            eventually(
                lambda: (
                    "mlops.pace.dev/retrain"
                    not in obj(kube_cluster, namespace, "MLModel", "wine")["metadata"].get(
                        "annotations", {}
                    )
                ),
                timeout=30,
                what="the replayed request dropped",
            )
            eventually(
                lambda: (
                    status(kube_cluster, namespace, "MLModel", "wine").get("servingVersion") == "v2"
                ),
                timeout=400,
                interval=1,
                what="wine v2 canaried and promoted",
            )
            assert stages(kube_cluster, namespace, "wine") == {
                "v1": "archived",
                "v2": "production",
            }
            v2 = status(kube_cluster, namespace, "MLModel", "wine")["versions"][1]
            assert v2["trigger"].startswith("drift: wine reported drift")
            annotations = obj(kube_cluster, namespace, "MLModel", "wine")["metadata"].get(
                "annotations", {}
            )
            assert "mlops.pace.dev/retrain" not in annotations
            # The drift persists (same training data), but the cooldown holds the policy.
            held_back = eventually(
                lambda: (
                    (s := status(kube_cluster, namespace, "RetrainPolicy", "wine"))
                    .get("holding", "")
                    .startswith("cooldown until")
                    and s
                ),
                timeout=60,  # two fresh drifted checks against the new reference
                what="the cooldown",
                context=lambda: {
                    "policy": status(kube_cluster, namespace, "RetrainPolicy", "wine"),
                    "monitor": status(kube_cluster, namespace, "DriftMonitor", "wine"),
                    "model": status(kube_cluster, namespace, "MLModel", "wine").get("phase"),
                },
            )
            assert held_back["triggerCount"] == 1
            # The model itself shows the drift its monitor still reports.
            eventually(
                lambda: model_drift(kube_cluster, namespace)["status"] == "True",
                timeout=30,
                what="the MLModel's DriftDetected=True",
            )
            assert "DriftMonitor wine" in model_drift(kube_cluster, namespace)["message"]
            wine_now = status(kube_cluster, namespace, "MLModel", "wine")
            assert wine_now["phase"] == "Degraded", (wine_now["conditions"], sdep_status("wine"))

            # strict: the metric policy fired; v2 fails minDelta; v1 keeps serving.
            eventually(
                lambda: stages(kube_cluster, namespace, "strict").get("v2") == "rejected",
                timeout=400,
                interval=1,
                what="strict v2 rejected by its gate",
            )
            st = status(kube_cluster, namespace, "MLModel", "strict")
            assert st["servingVersion"] == "v1"
            assert st.get("candidateVersion") is None
            validated = {c["type"]: c for c in st["conditions"]}["Validated"]
            assert (validated["status"], validated["reason"]) == ("False", "GateFailed")
            assert "minDelta 0.05" in validated["message"]

            # held: the newData policy fired; v2 passed and waits for `pace promote`.
            eventually(
                lambda: stages(kube_cluster, namespace, "held").get("v2") == "candidate",
                timeout=400,
                interval=1,
                what="held v2 validated",
            )
            time.sleep(5)  # longer than a rollout tick: nothing moves on its own
            st = status(kube_cluster, namespace, "MLModel", "held")
            assert (st["servingVersion"], st["candidateVersion"]) == ("v1", "v2")
            assert st.get("canary") is None
            rtp = status(kube_cluster, namespace, "RetrainPolicy", "held")
            assert rtp["lastTrigger"]["reason"] == f"newData: 60 new rows under {incoming}"
            result = pace("promote", "held", "-n", namespace, env=cli_env)
            assert result.returncode == 0, result.stderr
            eventually(
                lambda: (
                    status(kube_cluster, namespace, "MLModel", "held").get("servingVersion") == "v2"
                ),
                timeout=60,
                what="held v2 promoted by request",
            )
            # The Grafana dashboard's queries, against this Prometheus after the loop.
            check_dashboard(PrometheusApi(prom_info.url), namespace)
            # wine's only monitor is deleted: its drift verdict does not outlive it.
            kube_cluster.custom.delete_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.DRIFT_MONITOR_PLURAL,
                "wine",
            )
            eventually(
                lambda: model_drift(kube_cluster, namespace).get("reason") == "NotMonitored",
                timeout=30,
                what="wine's DriftDetected cleared once its monitor is gone",
            )
            assert model_drift(kube_cluster, namespace)["status"] == "Unknown"
            assert status(kube_cluster, namespace, "MLModel", "wine")["phase"] == "Serving"
            metrics_text = urllib.request.urlopen(
                f"http://127.0.0.1:{metrics_port}/metrics", timeout=5
            ).read()
            logged = traffic_logged(s3_settings, namespace)
    finally:
        traffic.stop.set()
        next(prom, None)

    # Nothing the loop needed was refused to the operator's ServiceAccount.
    for output in (run_1.output, run_2.output):
        assert "Forbidden" not in output
    # The router logged through the sink with the namespace's token: every predictor's
    # requests reached the bucket (the sink refuses records without it).
    assert logged >= 150, logged

    # No credential it was given shows anywhere PACE writes or shows things.
    token = sink_auth.namespace_token(sink_key.encode(), namespace)
    sdep = kube_cluster.custom.get_namespaced_custom_object(
        "machinelearning.seldon.io", "v1", namespace, "seldondeployments", "wine"
    )
    assert f"token={token}" in json.dumps(sdep["spec"])  # where it is meant to be, only
    # Predictors read with the namespace's scoped key, in the Secret the operator wrote (it may
    # create and replace that Secret, never read it); the key shows nowhere else.
    assert sdep["spec"]["predictors"][0]["graph"]["envSecretRefName"] == "pace-serving"
    serving_keys = KubeApi(kube_cluster.client).read_secret(namespace, "pace-serving")
    assert serving_keys["RCLONE_CONFIG_S3_ACCESS_KEY_ID"] == serving_credentials.user_name(
        namespace
    )
    leaks = secret_scan.findings(
        shown_and_kept(kube_cluster, namespace, s3_settings)
        | {
            "operator log (run 1)": run_1.output.encode(),
            "operator log (run 2)": run_2.output.encode(),
            "operator metrics": metrics_text,
            "SeldonDeployment status": json.dumps(sdep.get("status") or {}).encode(),
        }
        | {  # the local backend's compiled pipelines and run records
            str(path): path.read_bytes()
            for path in (tmp_path / "p").rglob("*")
            if path.suffix in (".yaml", ".json", ".log", ".txt") and path.is_file()
        },
        {
            "S3 access key": minio_server.access_key,
            "S3 secret key": minio_server.secret_key,
            "sink key": sink_key,
            "sink namespace token": token,
            "scoped serving key": serving_keys["RCLONE_CONFIG_S3_SECRET_ACCESS_KEY"],
        },
    )
    assert leaks == []

    # The audit trail, read back through `pace history`.
    loop = history(namespace, "wine", cli_env)
    types = [r["type"] for r in loop]
    assert types[:3] == ["TrainingStarted", "GatesPassed", "FirstVersion"], types
    after_trigger = types[types.index("RetrainTriggered") :]
    assert after_trigger[:3] == ["RetrainTriggered", "TrainingStarted", "GatesPassed"], types
    assert after_trigger[-1] == "Promoted", types
    assert "CanaryStarted" in after_trigger
    assert types.count("RetrainTriggered") == 1
    assert types.count("TrainingStarted") == 2
    trigger = loop[types.index("RetrainTriggered")]
    assert (trigger["serving"], trigger["details"]["request"]) == ("v1", request)
    promoted = loop[-1]
    assert (promoted["version"], promoted["serving"]) == ("v2", "v2")
    # What served when: v1 up to the promotion, v2 after it.
    assert [r["serving"] for r in loop[2:-1]] == ["v1"] * (len(loop) - 3)

    gate = [r for r in history(namespace, "strict", cli_env) if r["version"] == "v2"]
    assert [r["type"] for r in gate] == ["TrainingStarted", "GateFailed"]
    assert "minDelta 0.05" in gate[1]["message"]
    assert gate[1]["serving"] == "v1"
    assert gate[0]["details"]["trigger"].startswith("metric: value 1 above 0.5")

    held = [r["type"] for r in history(namespace, "held", cli_env) if r["version"] == "v2"]
    assert held == ["TrainingStarted", "GatesPassed", "AwaitingPromotion", "SingleStep"]

    table = pace("history", "wine", "-n", namespace, env=cli_env)
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["TIME", "EVENT", "VERSION", "SERVING", "MESSAGE"]
    assert any("RetrainTriggered" in line and "drift: wine" in line for line in lines)

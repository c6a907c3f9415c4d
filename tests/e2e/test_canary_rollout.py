"""Train → serve → canary → promote, and a broken candidate rolled back, with real traffic.

Real servers: kube-apiserver, MinIO, Prometheus (Debian), the local serving runtime (router +
seldon-core 1.19 microservices from .venv-serving). The operator is stopped and restarted
mid-canary and resumes at the same step.
"""

from __future__ import annotations

import collections
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import kubernetes
import pytest
from sklearn.datasets import load_wine

from pace import audit_log
from pace.adapters.kube_api import KubeApi
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.adapters.store_users import StoreUserError, StoreUsers
from pace.api import constants
from pace.core import notifications, serving_credentials
from pace.localstack import processes
from pace.localstack.minio import MinioInfo
from tests.e2e.conftest import RolloutEnv
from tests.e2e.test_train_and_register import get, wine
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator
from tests.servers.serving import ServingRuntime
from tests.servers.webhook import WebhookReceiver

ROWS = load_wine().data.tolist()
SIGNING_KEY = "webhook-signing-key-for-the-test"


class Traffic:
    """Sends predictions continuously; counts (predictor, status) of every response."""

    def __init__(self, url: str) -> None:
        self.url, self.counts = url, collections.Counter[tuple[str, int]]()
        self.stop, self.lock = threading.Event(), threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.shift: dict[int, float] = {}  # feature index -> factor (drift on demand)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set() and i < 100_000:
            row = [v * self.shift.get(j, 1.0) for j, v in enumerate(ROWS[i % len(ROWS)])]
            body = json.dumps({"data": {"ndarray": [row]}}).encode()
            req = urllib.request.Request(
                self.url, data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    key = (resp.headers.get("X-Seldon-Predictor", "?"), resp.status)
            except urllib.error.HTTPError as err:
                key = (err.headers.get("X-Seldon-Predictor", "?"), err.code)
            except OSError:
                key = ("?", 0)
            with self.lock:
                self.counts[key] += 1
            i += 1
            time.sleep(0.02)

    def snapshot(self) -> collections.Counter[tuple[str, int]]:
        with self.lock:
            return collections.Counter(self.counts)

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()


def one_prediction(url: str) -> int:
    """The HTTP status of one prediction request with a positional row (no names)."""
    body = json.dumps({"data": {"ndarray": [ROWS[0]]}}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def conditions_of(cluster: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status(cluster, namespace).get("conditions", [])}


def sdep(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
            "machinelearning.seldon.io", "v1", namespace, "seldondeployments", name
        )
    except Exception:
        return None
    return obj


def weights(cluster: Cluster, namespace: str) -> dict[str, int]:
    obj = sdep(cluster, namespace, "wine") or {"spec": {"predictors": []}}
    return {p["name"]: p["traffic"] for p in obj["spec"]["predictors"]}


def set_paused(cluster: Cluster, namespace: str, *, paused: bool) -> None:
    cluster.custom.patch_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.MLMODEL_PLURAL,
        "wine",
        {"spec": {"serving": {"canary": {"paused": paused}}}},
    )


def status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    return dict(get(cluster, namespace, "wine").get("status", {}))


def test_canary_promotes_then_rolls_back_a_broken_candidate(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    serving: ServingRuntime,
    rollout_env: RolloutEnv,
) -> None:
    env, metrics_port = rollout_env.env, rollout_env.metrics_port
    body = wine(
        "wine", serving={"canary": {"steps": [25, 50, 100], "interval": "6s", "maxFailedChecks": 1}}
    )
    # Every audit event goes to a signed JSON webhook; promotions and rollbacks also to a
    # Slack-format one (through three operator restarts).
    receiver = WebhookReceiver()
    kube_cluster.core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "pace-notifications"},
            "stringData": {"audit-hook": SIGNING_KEY},
        },
    )
    body["spec"]["notifications"] = {
        "webhooks": [
            {"name": "audit", "url": receiver.url("/audit"), "signingKey": "audit-hook"},
            {
                "name": "chat",
                "url": receiver.url("/chat"),
                "format": "slack",
                "events": ["Promoted", "RolledBack"],
            },
        ]
    }
    predict_url = f"{serving.url}/seldon/{namespace}/wine/api/v1.0/predictions"
    traffic = Traffic(predict_url)
    try:
        with running_operator(namespace, metrics_port=metrics_port, env_extra=env):
            kube_cluster.custom.create_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body
            )
            # v1: nothing serves yet, so it takes 100 % at once.
            eventually(
                lambda: status(kube_cluster, namespace).get("servingVersion") == "v1",
                timeout=300,
                interval=1,
                what="v1 serving",
            )
            st = status(kube_cluster, namespace)
            assert st["endpoint"] == predict_url
            assert weights(kube_cluster, namespace) == {"main": 100}
            # "Serving" means the endpoint answers: Ready follows the SeldonDeployment's status,
            # which turns Available only once the predictor answers. The first request a
            # client sends on seeing Ready=True succeeds (it used to get 503 for ~10 s).
            ready = eventually(
                lambda: (
                    (c := conditions_of(kube_cluster, namespace).get("Ready", {})).get("status")
                    == "True"
                    and c
                ),
                timeout=120,
                interval=0.1,
                what="Ready=True",
            )
            assert (ready["reason"], ready["message"]) == ("Serving", "v1 is serving.")
            assert status(kube_cluster, namespace)["phase"] == "Serving"
            assert one_prediction(predict_url) == 200
            seldon = sdep(kube_cluster, namespace, "wine") or {}
            assert seldon["status"]["state"] == "Available"
            # It serves with the namespace's read-only key, which the operator wrote; the
            # runtime has no other (tests/e2e/conftest.py).
            assert seldon["spec"]["predictors"][0]["graph"]["envSecretRefName"] == "pace-serving"
            keys = KubeApi(kube_cluster.client).read_secret(namespace, "pace-serving")
            user = serving_credentials.user_name(namespace)
            assert keys["RCLONE_CONFIG_S3_ACCESS_KEY_ID"] == user
            assert minio_server.secret_key not in keys.values()
            assert (
                seldon["status"]["deploymentStatus"]["wine-main-0-model"]["availableReplicas"] == 1
            )
            traffic.thread.start()
            eventually(
                lambda: traffic.snapshot()[("main", 200)] > 20,
                timeout=120,
                what="predictions served by main",
            )

            # v2 (a training change): canary at 25 %.
            kube_cluster.custom.patch_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.MLMODEL_PLURAL,
                "wine",
                {"spec": {"training": {"hyperparameters": {"n_estimators": 60}}}},
            )
            eventually(
                lambda: weights(kube_cluster, namespace) == {"main": 75, "canary": 25},
                timeout=300,
                interval=0.5,
                what="canary at 25 %",
            )
            # The deployment is applied first, then the status that records it (one look).
            eventually(
                lambda: status(kube_cluster, namespace).get("candidateVersion") == "v2",
                timeout=30,
                what="v2 recorded as the candidate",
            )
            # Hold it (spec.serving.canary.paused: no retraining) to measure the real split.
            set_paused(kube_cluster, namespace, paused=True)
            eventually(
                lambda: traffic.snapshot()[("canary", 200)] > 5,
                timeout=90,
                what="the canary to answer",
            )
            held = weights(kube_cluster, namespace)
            traffic.reset()
            time.sleep(5)
            seen = traffic.snapshot()
            share = seen[("canary", 200)] / max(1, sum(seen.values()))
            assert weights(kube_cluster, namespace) == held
            # The router picks at random by weight: within 4 standard deviations (or 0.08).
            expected, n = held["canary"] / 100, max(1, sum(seen.values()))
            tolerance = max(0.08, 4 * math.sqrt(expected * (1 - expected) / n))
            assert abs(share - expected) <= tolerance, (held, seen)
            before = status(kube_cluster, namespace)["canary"]

        # The operator stops mid-canary and comes back with Prometheus unreachable: the
        # canary resumes at the same step and holds there instead of promoting.
        dead = {**env, "PACE_PROMETHEUS_URL": f"http://127.0.0.1:{processes.free_port()}"}
        with running_operator(namespace, metrics_port=metrics_port, env_extra=dead):
            time.sleep(2)
            now = status(kube_cluster, namespace)["canary"]
            assert (now["step"], now["weight"]) == (before["step"], before["weight"])
            set_paused(kube_cluster, namespace, paused=False)
            healthy = eventually(
                lambda: (
                    (
                        c := {x["type"]: x for x in status(kube_cluster, namespace)["conditions"]}[
                            "CanaryHealthy"
                        ]
                    )["message"].find("Prometheus could not be queried")
                    >= 0
                    and c
                ),
                timeout=30,
                what="MetricsUnavailable",
            )
            assert healthy["status"] == "Unknown"
            time.sleep(8)  # more than an interval: still held
            now = status(kube_cluster, namespace)["canary"]
            assert (now["step"], now["weight"]) == (before["step"], before["weight"])
            assert weights(kube_cluster, namespace) == held

        # Restarted with Prometheus back, it continues from that step.
        with running_operator(namespace, metrics_port=metrics_port, env_extra=env):
            eventually(
                lambda: status(kube_cluster, namespace).get("servingVersion") == "v2",
                timeout=120,
                interval=0.5,
                what="v2 promoted",
            )
            st = status(kube_cluster, namespace)
            stages = {v["version"]: v["stage"] for v in st["versions"]}
            assert stages == {"v1": "archived", "v2": "production"}
            assert weights(kube_cluster, namespace) == {"main": 100}
            assert st.get("canary") is None

            # v3 is trained on 5 features only: it fails on the 13-feature traffic. (It is
            # also less accurate, so minDelta is relaxed to let it reach the canary.)
            traffic.reset()
            kube_cluster.custom.patch_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.MLMODEL_PLURAL,
                "wine",
                {
                    "spec": {
                        "dataset": {
                            "features": ["alcohol", "malic_acid", "ash", "magnesium", "proline"]
                        },
                        "qualityGates": {"minDelta": -1},
                    }
                },
            )
            eventually(
                lambda: status(kube_cluster, namespace).get("candidateVersion") == "v3",
                timeout=300,
                interval=0.5,
                what="v3 canary",
            )
            eventually(
                lambda: (
                    {
                        v["version"]: v["stage"]
                        for v in status(kube_cluster, namespace)["versions"]
                    }.get("v3")
                    == "rejected"
                ),
                timeout=120,
                interval=0.5,
                what="v3 rolled back",
            )
            st = status(kube_cluster, namespace)
            assert st["servingVersion"] == "v2"
            assert weights(kube_cluster, namespace) == {"main": 100}
            healthy = {c["type"]: c for c in st["conditions"]}["CanaryHealthy"]
            assert (healthy["status"], healthy["reason"]) == ("False", "RolledBack")
            assert "success-rate" in healthy["message"]
            seen = traffic.snapshot()
            assert seen[("main", 200)] > 0
            assert [k for k in seen if k[0] == "main" and k[1] != 200] == []  # main never failed
            assert seen[("canary", 500)] > 0
            events = [
                e.reason
                for e in kube_cluster.core.list_namespaced_event(namespace).items
                if e.involved_object.name == "wine"
            ]
            assert {"CanaryStarted", "Advanced", "Promoted", "RolledBack"} <= set(events)

            # Manual control: serve the archived v1 again, through the `pace` command.
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pace.cli",
                    "rollback",
                    "wine",
                    "-n",
                    namespace,
                    "--to",
                    "v1",
                ],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "KUBECONFIG": kube_cluster.kubeconfig},
            )
            assert result.returncode == 0, result.stderr
            eventually(
                lambda: status(kube_cluster, namespace).get("servingVersion") == "v1",
                timeout=30,
                what="v1 serving again",
            )
            st = status(kube_cluster, namespace)
            stages = {v["version"]: v["stage"] for v in st["versions"]}
            assert stages == {"v1": "production", "v2": "archived", "v3": "rejected"}
            main = sdep(kube_cluster, namespace, "wine")["spec"]["predictors"][0]  # type: ignore[index]
            assert main["labels"]["mlops.pace.dev/version"] == "v1"
            annotations = get(kube_cluster, namespace, "wine")["metadata"].get("annotations") or {}
            assert "mlops.pace.dev/action" not in annotations

            # A rejected version is never a rollback target: the command refuses it, and so
            # does the operator when the annotation is set by hand.
            refused = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pace.cli",
                    "rollback",
                    "wine",
                    "-n",
                    namespace,
                    "--to",
                    "v3",
                ],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "KUBECONFIG": kube_cluster.kubeconfig},
            )
            assert refused.returncode == 2, refused.stdout
            assert "'v3' is rejected" in refused.stderr
            kube_cluster.custom.patch_namespaced_custom_object(
                constants.GROUP,
                constants.VERSION,
                namespace,
                constants.MLMODEL_PLURAL,
                "wine",
                {"metadata": {"annotations": {"mlops.pace.dev/action": "rollback:v3"}}},
            )
            invalid = eventually(
                lambda: [
                    e
                    for e in kube_cluster.core.list_namespaced_event(namespace).items
                    if e.involved_object.name == "wine" and e.reason == "InvalidAction"
                ],
                what="the operator refusing rollback:v3",
            )
            assert "'v3' is rejected" in invalid[0].message
            eventually(
                lambda: (
                    "mlops.pace.dev/action"
                    not in (
                        get(kube_cluster, namespace, "wine")["metadata"].get("annotations") or {}
                    )
                ),
                what="the refused action removed",
            )
            assert status(kube_cluster, namespace)["servingVersion"] == "v1"
            check_notifications(kube_cluster, namespace, s3_settings, receiver)

            # The namespace's last model goes: its read-only store user and Secret go too.
            kube_cluster.custom.delete_namespaced_custom_object(
                constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, "wine"
            )
            eventually(
                lambda: not secret_exists(kube_cluster, namespace, "pace-serving"),
                timeout=60,
                what="the pace-serving Secret removed",
            )
            admin = StoreUsers(
                endpoint=s3_settings.endpoint,
                access_key=s3_settings.access_key,
                secret_key=s3_settings.secret_key,
            )
            with pytest.raises(StoreUserError):
                admin.policies_of(user)
    finally:
        traffic.stop.set()
        receiver.close()


def secret_exists(cluster: Cluster, namespace: str, name: str) -> bool:
    try:
        cluster.core.read_namespaced_secret(name, namespace)
    except kubernetes.client.exceptions.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def check_notifications(
    cluster: Cluster, namespace: str, s3_settings: S3Settings, receiver: WebhookReceiver
) -> None:
    """Each audit event of the model reached the audit webhook once, in order, signed; the
    chat webhook got the promotions and rollbacks only, as Slack messages."""
    uid = get(cluster, namespace, "wine")["metadata"]["uid"]
    store = ObjectStore(s3_settings)

    def history() -> list[dict[str, Any]]:
        return [
            r
            for r in audit_log.read_history(store, namespace, "wine")
            if r["source"] == f"mlmodel-{uid[:8]}"
        ]

    def delivered() -> list[str]:
        return [r.headers[notifications.EVENT_ID_HEADER] for r in receiver.at("/audit")]

    # Each once, in the order they happened (asked again until the last one has arrived).
    eventually(
        lambda: delivered() == [notifications.event_id(r) for r in history()],
        timeout=60,
        what="every audit event at the webhook, once, in order",
        context=lambda: (delivered(), [notifications.event_id(r) for r in history()]),
    )
    audit = receiver.at("/audit")
    records = history()
    assert {"Promoted", "RolledBack", "CanaryStarted", "TrainingStarted"} <= {
        r.json()["type"] for r in audit
    }
    for note in audit:
        signature = note.headers[notifications.SIGNATURE_HEADER]
        assert notifications.verify(SIGNING_KEY, note.body, signature)
        assert not notifications.verify("another key", note.body, signature)
    assert [r.json() for r in audit] == records  # the audit records themselves
    chat = receiver.at("/chat")
    wanted = [r for r in records if r["type"] in ("Promoted", "RolledBack")]
    assert len(chat) == len(wanted)
    assert all(SIGNING_KEY not in r.body.decode() for r in chat)
    texts = [r.json()["text"] for r in chat]
    assert all(t.startswith(f"*{namespace}/wine: ") for t in texts)
    assert [t.split(": ", 1)[1].split("*")[0] for t in texts] == [r["type"] for r in wanted]
    notified = conditions_of(cluster, namespace)["Notified"]
    assert (notified["status"], notified["reason"]) == ("True", "Delivering")

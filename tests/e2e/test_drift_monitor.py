"""DriftMonitor end to end: inference events → the operator's sink → Parquet in MinIO → the
detector → status, gauges and an event. Real covariate shift (breast_cancer split by
mean_radius) is flagged; an unshifted hold-out is not."""

from __future__ import annotations

import io
import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.api import constants
from pace.core import alert_rules, datasets
from pace.localstack import alertmanager, processes, prometheus
from pace.localstack.minio import MinioInfo
from tests.e2e.test_train_and_register import operator_env
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator
from tests.servers.webhook import WebhookReceiver

FRAME = datasets.load_builtin("breast_cancer").drop(columns=["target"])
CUT = FRAME["mean_radius"].median()
LOW, HIGH = FRAME[FRAME["mean_radius"] <= CUT], FRAME[FRAME["mean_radius"] > CUT]


def send(sink: str, namespace: str, model: str, rows: pd.DataFrame) -> None:
    for start in range(0, len(rows), 20):
        chunk = rows.iloc[start : start + 20]
        body = json.dumps(
            {"data": {"names": list(chunk.columns), "ndarray": chunk.to_numpy().tolist()}}
        ).encode()
        req = urllib.request.Request(
            sink,
            data=body,
            headers={
                "Ce-Id": f"{model}-{start}",
                "Ce-Type": "io.seldon.serving.inference.request",
                "Ce-Namespace": namespace,
                "Ce-Inferenceservicename": model,
                "Ce-Endpoint": "main",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200


def monitor(name: str, model: str, reference_uri: str) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": "DriftMonitor",
        "metadata": {"name": name},
        "spec": {
            "modelRef": {"name": model},
            "reference": {"uri": reference_uri},
            "source": {"window": {"rows": 200}, "minRows": 100},
            "detector": {"type": "tabular", "pValue": 0.05},
            "interval": "3s",
        },
    }


class Webhook(WebhookReceiver):
    """Alertmanager's notifications, at /alerts."""

    def __init__(self) -> None:
        super().__init__()
        self.url_ = self.url("/alerts")

    def find(self, status: str, monitor: str) -> dict[str, Any] | None:
        """The first PaceDriftDetected alert of ``monitor`` notified with ``status``."""
        for note in self.at("/alerts"):
            for alert in note.json().get("alerts", []):
                labels = alert.get("labels", {})
                if (
                    alert.get("status") == status
                    and labels.get("alertname") == "PaceDriftDetected"
                    and labels.get("monitor") == monitor
                ):
                    return dict(alert)
        return None


def get(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.DRIFT_MONITOR_PLURAL, name
    )
    return obj


def test_shift_is_detected_and_holdout_is_not(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    tmp_path: Path,
) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    reference = LOW.iloc[::2]
    buf = io.BytesIO()
    reference.to_parquet(buf, index=False)
    store.put("refs/low.parquet", buf.getvalue())
    ref_uri = f"s3://{store.bucket}/refs/low.parquet"
    sink_port, metrics_port = processes.free_port(), processes.free_port()
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, tmp_path / "p")
    env |= {"PACE_INFERENCE_SINK_PORT": str(sink_port)}
    create = kube_cluster.custom.create_namespaced_custom_object
    for model in ("shifted", "steady"):
        body = {
            "apiVersion": constants.API_VERSION,
            "kind": "MLModel",
            "metadata": {"name": model},
            "spec": {
                "task": "classification",
                "dataset": {"uri": "sklearn://breast_cancer", "target": "target"},
            },
        }
        create(constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body)
    # Prometheus scrapes the operator and evaluates PACE's alerting rules (the drift alert's
    # `for` shortened to 2 s), Alertmanager sends what fires to this test's webhook.
    hook = Webhook()
    rules = tmp_path / alert_rules.FILE_NAME
    rules.write_text(alert_rules.rules_text(alert_rules.Thresholds(drift_for="2s")))
    am = alertmanager.start(tmp_path / "am", webhooks=[hook.url_])
    prom = prometheus.start(
        tmp_path / "prom",
        {alert_rules.OPERATOR_JOB: f"127.0.0.1:{metrics_port}"},
        rule_files=[rules],
        alertmanager=am.url,
    )
    try:
        _shift_is_detected_and_alerted(
            kube_cluster, namespace, store, ref_uri, env, sink_port, metrics_port, hook
        )
    finally:
        processes.stop(prom.pid)
        processes.stop(am.pid)
        hook.close()


def _shift_is_detected_and_alerted(
    kube_cluster: Cluster,
    namespace: str,
    store: ObjectStore,
    ref_uri: str,
    env: dict[str, str],
    sink_port: int,
    metrics_port: int,
    hook: Webhook,
) -> None:
    create = kube_cluster.custom.create_namespaced_custom_object
    holdout = LOW.iloc[1::2]
    with running_operator(namespace, metrics_port=metrics_port, env_extra=env):
        create(
            constants.GROUP,
            constants.VERSION,
            namespace,
            constants.DRIFT_MONITOR_PLURAL,
            monitor("shifted", "shifted", ref_uri),
        )
        create(
            constants.GROUP,
            constants.VERSION,
            namespace,
            constants.DRIFT_MONITOR_PLURAL,
            monitor("steady", "steady", ref_uri),
        )
        # Too few rows first: reported as such, not judged.
        sink = f"http://127.0.0.1:{sink_port}/"

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", sink_port), timeout=1).close()
            except OSError:
                return False
            return True

        eventually(listening, timeout=60, what="the operator's inference sink")
        send(sink, namespace, "shifted", HIGH.iloc[:40])
        small = eventually(
            lambda: (
                (s := get(kube_cluster, namespace, "shifted").get("status", {})).get("windowRows")
                == 40
                and s
            ),
            timeout=60,
            what="a small window",
        )
        cond = {c["type"]: c for c in small["conditions"]}["DriftDetected"]
        assert (cond["status"], cond["reason"]) == ("Unknown", "NotEnoughData")
        assert "spec.source.window" in cond["message"]
        assert "spec.source.minRows" in cond["message"]
        assert "driftDetected" not in small

        send(sink, namespace, "shifted", HIGH.iloc[40:])
        send(sink, namespace, "steady", holdout)
        shifted = eventually(
            lambda: (
                (s := get(kube_cluster, namespace, "shifted").get("status", {})).get(
                    "driftDetected"
                )
                is not None
                and s
            ),
            timeout=90,
            what="a verdict on the shifted window",
        )
        steady = eventually(
            lambda: (
                (s := get(kube_cluster, namespace, "steady").get("status", {})).get("driftDetected")
                is not None
                and s
            ),
            timeout=90,
            what="a verdict on the hold-out window",
        )
        metrics_text = (
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
            .read()
            .decode()
        )
        # The drift alert reaches the webhook through Prometheus and Alertmanager ...
        firing = eventually(
            lambda: hook.find("firing", "shifted"), timeout=60, what="the drift alert firing"
        )
        assert firing["labels"]["namespace"] == namespace
        assert firing["annotations"]["summary"] == f"Drift on {namespace}/shifted"
        # ... and resolves once the window is like the reference again.
        send(sink, namespace, "shifted", LOW.sample(n=200, random_state=1))
        eventually(
            lambda: get(kube_cluster, namespace, "shifted")["status"].get("driftDetected") is False,
            timeout=90,
            what="the shifted monitor back to no drift",
        )
        eventually(
            lambda: hook.find("resolved", "shifted"), timeout=60, what="the drift alert resolved"
        )
        assert hook.find("firing", "steady") is None  # never drifted, never alerted

    assert shifted["driftDetected"] is True
    assert shifted["windowRows"] == 200
    assert shifted["shareDrifted"] > 0.3
    top = {f["name"]: f for f in shifted["topFeatures"]}
    assert top
    assert all(f["pValue"] < 0.05 for f in shifted["topFeatures"][:3])
    cond = {c["type"]: c for c in shifted["conditions"]}["DriftDetected"]
    assert (cond["status"], cond["reason"]) == ("True", "Drift")
    assert steady["driftDetected"] is False
    assert steady["windowRows"] == len(holdout) if len(holdout) < 200 else 200
    assert f'pace_drift_detected{{monitor="shifted",namespace="{namespace}"}} 1.0' in metrics_text
    assert f'pace_drift_detected{{monitor="steady",namespace="{namespace}"}} 0.0' in metrics_text
    assert "pace_drift_p_value{" in metrics_text
    events = [
        e
        for e in kube_cluster.core.list_namespaced_event(namespace).items
        if e.involved_object.name == "shifted" and e.reason == "Drift"
    ]
    assert events
    assert events[0].type == "Warning"
    # Every acknowledged record is in MinIO.
    keys = [k for k in store.list(f"inference-logs/{namespace}/shifted/") if "/requests/" in k]
    rows = sum(len(pd.read_parquet(io.BytesIO(store.get(k)))) for k in keys)
    assert rows == len(HIGH) + 200  # the shifted rows, then the 200 that resolved the alert

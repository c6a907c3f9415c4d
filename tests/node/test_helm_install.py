"""`helm install` for real: the chart runs PACE's operator image as a Pod on the local node,
in a namespace enforcing the `restricted` Pod Security Standard, signed in as the chart's
ServiceAccount; it trains an MLModel inside the Pod (local backend, writing only to its
volumes), serves it (the SeldonDeployment, run by the host's serving runtime), survives the
deletion of its Pod and a `helm upgrade`, and `helm uninstall` leaves the CRDs and the
users' objects.

Everything the Pod needs from the host is given as values with the host's address (MinIO,
Prometheus) or reached through the `kubernetes` Service (the API server): no host paths.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pace.api import constants
from pace.localstack import binaries, node, processes, prometheus, serving
from pace.localstack.minio import MinioInfo
from tests.node.conftest import IMAGE, kubectl, s3_secret
from tests.servers.operator import eventually

pytestmark = pytest.mark.timeout(1500)
CHART = Path(__file__).resolve().parents[2] / "charts" / "pace"
SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"
NAMESPACE = "pace-system"
MODELS = "ml"


def helm(plane: Any, *args: str) -> str:
    import subprocess

    done = subprocess.run(
        [str(binaries.locate("helm")), f"--kubeconfig={plane.kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


PLANE: list[Any] = []


def diagnose() -> str:
    """What the operator's namespace shows: Pods, their events and the operator's log."""
    if not PLANE:
        return ""
    plane = PLANE[0]
    parts = [
        kubectl(plane, "get", "pods", "-A", "-o", "wide", check=False),
        kubectl(plane, "describe", "pods", "-n", NAMESPACE, check=False)[-4000:],
        kubectl(plane, "get", "events", "-n", NAMESPACE, check=False)[-3000:],
        kubectl(
            plane, "logs", "-n", NAMESPACE, "deployment/pace-operator", "--tail=80", check=False
        ),
    ]
    return "\n".join(parts)


def wait_for(probe: Any, *, timeout: float, what: str, interval: float = 1.0) -> Any:
    """`eventually`, with the operator's Pods, events and log on a timeout."""
    return eventually(probe, timeout=timeout, interval=interval, what=what, context=diagnose)


def operator_pod(plane: Any) -> dict[str, Any] | None:
    pods = json.loads(
        kubectl(
            plane,
            "get",
            "pods",
            "-n",
            NAMESPACE,
            "-l",
            "app.kubernetes.io/name=pace-operator",
            "-o",
            "json",
        )
    )["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    return live[0] if live else None


def ready(pod: dict[str, Any] | None) -> bool:
    if pod is None:
        return False
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def operator_memory_mb(plane: Any) -> float | None:
    """The operator container's resident memory as the kubelet reports it (stats summary,
    from the container's cgroup: the operator and the training processes it started)."""
    raw = kubectl(
        plane, "get", "--raw", f"/api/v1/nodes/{node.NODE_NAME}/proxy/stats/summary", check=False
    )
    if not raw:
        return None
    for pod in json.loads(raw).get("pods", []):
        if pod["podRef"]["namespace"] == NAMESPACE:
            for container in pod.get("containers", []):
                rss = (container.get("memory") or {}).get("rssBytes")
                if container["name"] == "operator" and rss:
                    return float(rss) / 1e6
    return None


def model(plane: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        kubectl(plane, "get", "mlmodel", "wine", "-n", MODELS, "-o", "json")
    )
    return found


def test_helm_install_runs_the_operator_through_training_serving_and_a_canary(
    cluster: Any, host_store: MinioInfo, tmp_path: Path
) -> None:
    plane, _info = cluster
    PLANE[:] = [plane]
    ip = node.host_ip()
    store = host_store
    runtime = None
    prom = None
    try:
        # No store keys: predictors read with the Secret the operator writes (scoped keys).
        runtime = serving.start_runtime(plane.kubeconfig, tmp_path / "serving")
        prom = prometheus.start(tmp_path / "prom", {"router": runtime.metrics_target}, address=ip)
        # Seldon Core's CRD (in a cluster, Seldon's installation brings it).
        seldon_crd = CHART.parents[1] / "manifests" / "seldon"
        kubectl(plane, "apply", "-f", str(seldon_crd))
        s3_secret(plane, NAMESPACE, store)
        kubectl(plane, "create", "namespace", MODELS)
        kubectl(
            plane, "label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted"
        )
        repository, tag = IMAGE.rsplit(":", 1)
        values = [
            f"image.repository={repository}",
            f"image.tag={tag}",
            "image.pullPolicy=Never",
            f"objectStore.endpoint={store.endpoint}",
            f"prometheus.url={prom.url}",
            f"serving.gateway={runtime.url}",
        ]
        started = time.monotonic()
        helm(plane, "install", "pace", str(CHART), "-n", NAMESPACE, *(f"--set={v}" for v in values))
        pod = wait_for(
            lambda: (p := operator_pod(plane)) and ready(p) and p,
            timeout=180,
            what="the operator Pod Ready",
        )
        print(f"helm install -> operator Pod Ready in {time.monotonic() - started:.1f}s")
        # The container runs as the chart says (read back from the running container).
        seen = json.loads(
            kubectl(
                plane,
                "exec",
                "-n",
                NAMESPACE,
                pod["metadata"]["name"],
                "--",
                "python",
                "-c",
                "import json, os; s = open('/proc/self/status').read();"
                "caps = [l.split()[1] for l in s.splitlines() if l.startswith('CapEff')][0];"
                "w = os.access('/', os.W_OK);"
                "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'caps': caps, 'w': w}))",
            )
        )
        assert (seen["uid"], seen["gid"], int(seen["caps"], 16), seen["w"]) == (
            65532,
            65532,
            0,
            False,
        )

        body = yaml.safe_load((SAMPLES / "mlmodel_wine.yaml").read_text())
        body["metadata"] = {"name": "wine", "namespace": MODELS}
        body["spec"]["serving"] = {
            "canary": {"steps": [50, 100], "interval": "5s", "maxFailedChecks": 3}
        }
        time.sleep(10)  # the kubelet's stats catch up
        idle = operator_memory_mb(plane)
        kubectl(plane, "apply", "-f", "-", stdin=json.dumps(body))
        trained = time.monotonic()
        peak = [0.0]

        def serving_v1() -> bool:
            peak[0] = max(peak[0], operator_memory_mb(plane) or 0.0)
            return bool(model(plane).get("status", {}).get("servingVersion") == "v1")

        wait_for(serving_v1, timeout=400, what="v1 trained in the Pod and serving", interval=0.5)
        print(
            f"v1 trained in the operator Pod in {time.monotonic() - trained:.1f}s; operator "
            f"container RSS idle {idle or 0:.0f} MB, peak while training {peak[0]:.0f} MB"
        )
        wait_for(
            lambda: any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in model(plane)["status"]["conditions"]
            ),
            timeout=120,
            what="Ready=True (the predictor answers)",
        )
        # A canary: v2 at 50 %, under traffic, then the operator Pod is deleted mid-canary.
        traffic = _Traffic(f"{runtime.url}/seldon/{MODELS}/wine/api/v1.0/predictions")
        traffic.start()
        try:
            kubectl(
                plane,
                "patch",
                "mlmodel",
                "wine",
                "-n",
                MODELS,
                "--type=merge",
                "-p",
                json.dumps({"spec": {"training": {"hyperparameters": {"n_estimators": 60}}}}),
            )
            canary = wait_for(
                lambda: (s := model(plane)["status"]).get("canary") and s.get("canary"),
                timeout=400,
                what="v2 in canary",
            )
            before = operator_pod(plane)
            assert before is not None
            kubectl(
                plane, "delete", "pod", "-n", NAMESPACE, before["metadata"]["name"], "--wait=false"
            )
            after = wait_for(
                lambda: (
                    (p := operator_pod(plane))
                    and ready(p)
                    and p["metadata"]["uid"] != before["metadata"]["uid"]
                    and p
                ),
                timeout=180,
                what="a new operator Pod Ready",
            )
            resumed = model(plane)["status"].get("canary")
            if resumed is not None:  # still canarying: at the step it was at, or further
                assert resumed["step"] >= canary["step"], (canary, resumed)
            wait_for(
                lambda: model(plane)["status"].get("servingVersion") == "v2",
                timeout=300,
                what="v2 promoted by the new Pod",
            )
        finally:
            traffic.stop = True
        status = model(plane)["status"]
        stages = {v["version"]: v["stage"] for v in status["versions"]}
        assert stages == {"v1": "archived", "v2": "production"}
        assert status["training"]["attempts"] == 1  # the restart started no run again

        # helm upgrade with changed values rolls the operator and keeps the state.
        helm(
            plane,
            "upgrade",
            "pace",
            str(CHART),
            "-n",
            NAMESPACE,
            *(f"--set={v}" for v in values),
            "--set=pipelines.maxTrainingRuns=1",
        )
        wait_for(
            lambda: (
                (p := operator_pod(plane))
                and ready(p)
                and p["metadata"]["uid"] != after["metadata"]["uid"]
                and any(
                    e["name"] == "PACE_MAX_TRAINING_RUNS" and e["value"] == "1"
                    for e in p["spec"]["containers"][0]["env"]
                )
            ),
            timeout=180,
            what="the upgraded operator Pod Ready",
        )
        assert model(plane)["status"]["servingVersion"] == "v2"

        logs = kubectl(plane, "logs", "-n", NAMESPACE, "deployment/pace-operator")
        assert "Forbidden" not in logs, logs[-3000:]

        # helm uninstall: the operator goes; CRDs and the users' objects stay.
        helm(plane, "uninstall", "pace", "-n", NAMESPACE, "--wait")
        wait_for(lambda: operator_pod(plane) is None, timeout=120, what="the operator gone")
        assert kubectl(plane, "get", "crd", f"{constants.MLMODEL_PLURAL}.{constants.GROUP}")
        assert model(plane)["status"]["servingVersion"] == "v2"
    finally:
        for server in (prom, runtime):
            if server is not None:
                processes.stop(server.pid)


class _Traffic:
    """Predictions in the background (positional rows, as Seldon's server takes them)."""

    def __init__(self, url: str) -> None:
        import threading

        from sklearn.datasets import load_wine

        self.url, self.rows = url, load_wine().data.tolist()
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        import urllib.error
        import urllib.request

        i = 0
        while not self.stop:
            body = json.dumps({"data": {"ndarray": [self.rows[i % len(self.rows)]]}}).encode()
            req = urllib.request.Request(
                self.url, data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=10):
                    pass
            except (urllib.error.URLError, OSError):
                pass
            i += 1
            time.sleep(0.05)

"""`pace local up|env|status|down` as a user runs it: background servers, kubectl through
`eval "$(pace local env)"`, and nothing left running afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from pace.localstack import processes

ROOT = Path(__file__).parents[2]
PACE = [sys.executable, "-m", "pace.cli"]


def run(args: list[str], env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=180, check=False, cwd=ROOT, **kwargs
    )  # type: ignore[call-overload]


def test_local_stack_up_env_status_down(tmp_path: Path) -> None:
    env = {**os.environ, "PACE_STATE_DIR": str(tmp_path)}
    env.pop("KUBECONFIG", None)
    up = run([*PACE, "local", "up"], env)
    assert up.returncode == 0, up.stdout + up.stderr
    state = json.loads((tmp_path / "state.json").read_text())
    pids = list(state["processes"].values())
    try:
        assert set(state["processes"]) == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "minio",
            "prometheus",
            "alertmanager",
            "serving-runtime",
            "pace-operator",
        }
        assert all(processes.pid_alive(p) for p in pids)

        # The way the README says to use it.
        script = (
            f'eval "$({" ".join(PACE)} local env)" && kubectl version -o json && '
            f"kubectl apply -f manifests/samples/mlmodel_wine.yaml && kubectl get mlm"
        )
        shell = run(["bash", "-c", script], env)
        assert shell.returncode == 0, shell.stdout + shell.stderr
        assert '"gitVersion": "v1.35.4"' in shell.stdout
        assert "wine" in shell.stdout
        assert "PHASE" in shell.stdout

        # `pace history` reads the audit log in MinIO with the env exports alone: the
        # operator started training the sample and recorded it.
        history = f'eval "$({" ".join(PACE)} local env)" && {" ".join(PACE)} history wine'
        deadline = time.monotonic() + 60
        while "TrainingStarted" not in (shown := run(["bash", "-c", history], env)).stdout:
            assert time.monotonic() < deadline, shown.stdout + shown.stderr
            time.sleep(1)
        assert shown.returncode == 0, shown.stderr
        assert "wine-v1-" in shown.stdout

        status = run([*PACE, "local", "status"], env)
        assert "kube-apiserver" in status.stdout
        assert "running" in status.stdout
        with urllib.request.urlopen(state["urls"]["operator-probe"], timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(state["urls"]["minio"] + "/minio/health/ready") as resp:
            assert resp.status == 200
        # Prometheus evaluates PACE's alerting rules and sends to the stack's Alertmanager.
        prom = state["urls"]["prometheus"]
        with urllib.request.urlopen(f"{prom}/api/v1/rules", timeout=5) as resp:
            groups = json.load(resp)["data"]["groups"]
        assert [g["name"] for g in groups] == ["pace"]
        assert len(groups[0]["rules"]) == 7
        with urllib.request.urlopen(f"{prom}/api/v1/alertmanagers", timeout=5) as resp:
            active = json.load(resp)["data"]["activeAlertmanagers"]
        assert [a["url"] for a in active] == [state["urls"]["alertmanager"] + "/api/v2/alerts"]
        # The operator got the MinIO credentials from the Secret it references.
        log = (Path(state["workdir"]) / "logs" / "operator.log").read_text()
        assert "object store 127.0.0.1:" in log
        from pace.adapters import kube_api

        kube = kube_api.KubeApi(kube_api.load_client(state["kubeconfig"]))
        secret = kube.read_secret("pace-system", "pace-s3")["secretKey"]
        assert secret not in log
    finally:
        down = run([*PACE, "local", "down"], env)
    assert down.returncode == 0, down.stderr
    assert not any(processes.pid_alive(p) for p in pids)
    assert not (tmp_path / "state.json").exists()
    assert "not running" in run([*PACE, "local", "status"], env).stdout


def test_env_without_a_stack_explains(tmp_path: Path) -> None:
    env = {**os.environ, "PACE_STATE_DIR": str(tmp_path)}
    result = run([*PACE, "local", "env"], env)
    assert result.returncode == 1
    assert "pace local up" in result.stderr


def test_missing_binary_fails_by_name(tmp_path: Path) -> None:
    env = {**os.environ, "PACE_STATE_DIR": str(tmp_path), "PACE_CACHE_DIR": str(tmp_path / "c")}
    env.pop("KUBEBUILDER_ASSETS", None)
    result = run([*PACE, "local", "up"], env)
    assert result.returncode == 1
    assert "etcd not found" in result.stderr
    assert "make controlplane" in result.stderr

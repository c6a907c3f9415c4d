"""`pace local up --node` / `pace local down` as a user runs them: the stack with a real node
whose Pods run the images of `make images` and reach the stack's MinIO; `down` leaves no
process, mount, link, chain or cgroup behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pace.localstack import binaries, node, processes

pytestmark = pytest.mark.node

PIPELINE_IMAGE = "localhost/pace-pipeline:0.1.0"


def pace(state: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pace.cli", *args],
        env={**os.environ, "PACE_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Short: the node's unix sockets live under it (108-byte limit).
    state = Path(tempfile.mkdtemp(prefix="pace-up-"))
    try:
        yield state
    finally:
        if (state / "state.json").is_file():  # the test failed before `down`
            pace(state, "local", "down")
        shutil.rmtree(state, ignore_errors=True)


def test_up_with_a_node_runs_pods_and_down_leaves_nothing(state_dir: Path) -> None:
    started = time.monotonic()
    up = pace(state_dir, "local", "up", "--node")
    assert up.returncode == 0, up.stdout + up.stderr
    print(f"pace local up --node: {time.monotonic() - started:.1f}s")
    assert "node pace-node Ready" in up.stdout
    state = json.loads((state_dir / "state.json").read_text())
    assert state["node"]["name"] == node.NODE_NAME
    root = Path(state["node"]["root"])
    kubectl = [str(binaries.locate("kubectl")), f"--kubeconfig={state['kubeconfig']}"]

    ready = subprocess.run(
        [*kubectl, "get", "node", node.NODE_NAME, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    conditions = {c["type"]: c["status"] for c in json.loads(ready.stdout)["status"]["conditions"]}
    assert conditions["Ready"] == "True"

    # A Pod of the pipeline image (imported, never pulled) reaches the stack's MinIO.
    minio = state["urls"]["minio"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "reach-minio", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "probe",
                    "image": PIPELINE_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": [
                        "python",
                        "-c",
                        "import urllib.request; "
                        f"print(urllib.request.urlopen('{minio}/minio/health/live').status)",
                    ],
                }
            ],
        },
    }
    subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(pod), text=True, check=True)
    deadline = time.monotonic() + 120
    phase = ""
    while time.monotonic() < deadline and phase not in ("Succeeded", "Failed"):
        time.sleep(1)
        phase = subprocess.run(
            [*kubectl, "get", "pod", "reach-minio", "-o", "jsonpath={.status.phase}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    logs = subprocess.run(
        [*kubectl, "logs", "reach-minio"], capture_output=True, text=True, check=False
    )
    assert phase == "Succeeded", (phase, logs.stdout, logs.stderr)
    assert logs.stdout.strip() == "200"

    status = pace(state_dir, "local", "status")
    assert "kubelet" in status.stdout, status.stdout
    assert "STOPPED" not in status.stdout, status.stdout

    pids = dict(state["processes"])
    down = pace(state_dir, "local", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped node pace-node" in down.stdout
    assert not [name for name, pid in pids.items() if processes.pid_alive(pid)]
    left = node.leftovers(root)
    assert all(not v for v in left.values()), left
    assert not root.exists()
    assert not (state_dir / "state.json").exists()

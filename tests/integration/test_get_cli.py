"""`pace get` and `pace get --watch` against a real kube-apiserver: what a user sees is what
the API server stored, and the watch redraws when the status changes."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from typing import Any

import pytest

from pace import cli
from pace.api import constants
from tests.e2e.test_train_and_register import wine
from tests.servers.kube_apiserver import Cluster


def _set_status(cluster: Cluster, namespace: str, status: dict[str, Any]) -> None:
    cluster.custom.patch_namespaced_custom_object_status(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.MLMODEL_PLURAL,
        "wine",
        {"status": status},
    )


def _canary(weight: int, step: int) -> dict[str, Any]:
    return {
        "phase": "Canary",
        "servingVersion": "v1",
        "candidateVersion": "v2",
        "canary": {"weight": weight, "step": step, "checksPassed": step},
        "versions": [
            {"version": "v1", "stage": "production", "metrics": {"accuracy": 0.91}},
            {"version": "v2", "stage": "canary", "metrics": {"accuracy": 0.95}},
        ],
    }


def test_get_shows_the_stored_object_and_watch_redraws(
    kube_cluster: Cluster, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["get", "wine", "-n", namespace]) == 1
    assert f"MLModel {namespace}/wine not found" in capsys.readouterr().err

    kube_cluster.custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, wine("wine")
    )
    assert cli.main(["get", "wine", "-n", namespace]) == 0
    out = capsys.readouterr().out
    assert f"Namespace:     {namespace}" in out
    assert "No versions yet." in out

    _set_status(kube_cluster, namespace, _canary(10, 0))
    steps = len(wine("wine")["spec"]["serving"]["canary"]["steps"])
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pace.cli",
            "get",
            "wine",
            "-n",
            namespace,
            "-w",
            "--interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "KUBECONFIG": kube_cluster.kubeconfig},
    )
    try:
        assert f"v2 at 10 % (step 1 of {steps})" in _read_until(watcher, "10 %")
        _set_status(kube_cluster, namespace, _canary(50, 2))
        redrawn = _read_until(watcher, "50 %")
        assert f"v2 at 50 % (step 3 of {steps})" in redrawn
        assert watcher.poll() is None  # still watching
    finally:
        watcher.terminate()
        watcher.wait(10)


def _read_until(proc: subprocess.Popen[bytes], text: str, timeout: float = 30.0) -> str:
    """Output of ``proc`` up to a line containing ``text``."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(timeout=0.5):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            seen += chunk
            if text.encode() in seen:
                return seen.decode()
    err = proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ""
    raise AssertionError(f"{text!r} not shown in {timeout}s; output: {seen.decode()!r} {err}")

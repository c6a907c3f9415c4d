"""Fixtures shared by the end-to-end tests: the local serving runtime."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pace.localstack import processes
from tests.servers.kube_apiserver import Cluster
from tests.servers.serving import ServingRuntime, start_serving_runtime


@pytest.fixture
def serving(kube_cluster: Cluster, tmp_path: Path) -> Iterator[ServingRuntime]:
    """The serving runtime; predictors read their models with the Secret the operator writes
    in the model's namespace (scoped, read-only keys), never with the test's keys."""
    runtime = start_serving_runtime(kube_cluster.kubeconfig, tmp_path)
    yield runtime
    processes.stop(runtime.pid)
    # Stopping the runtime stops every microservice and their gunicorn/multiprocessing children.
    leftovers = subprocess.run(
        ["pgrep", "-f", "seldon-core-microservice"], capture_output=True, text=True, check=False
    ).stdout.split()
    assert leftovers == [], f"stray microservice processes: {leftovers}"

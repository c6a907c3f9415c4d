"""Fixtures shared by the end-to-end tests: the local serving runtime, and the settings of an
operator that rolls out through it with a real Prometheus."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pace.adapters.object_store import S3Settings
from pace.localstack import processes
from pace.localstack.minio import MinioInfo
from tests.servers.kube_apiserver import Cluster
from tests.servers.serving import ServingRuntime, running_prometheus, start_serving_runtime


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
    if leftovers:  # killed before failing: one test's strays must not fail every later one
        subprocess.run(["pkill", "-9", "-f", "seldon-core-microservice"], check=False)
    assert leftovers == [], f"stray microservice processes: {leftovers}"


@dataclass(frozen=True)
class RolloutEnv:
    """An operator's settings for canaries judged by Prometheus: ``env`` for
    `running_operator`'s ``env_extra``, ``metrics_port`` for its ``metrics_port``."""

    env: dict[str, str]
    metrics_port: int


@pytest.fixture
def rollout_env(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    serving: ServingRuntime,
    tmp_path: Path,
) -> Iterator[RolloutEnv]:
    """A Prometheus scraping the router and the operator's metrics port, and the operator's
    store, pipeline, Prometheus and gateway settings."""
    from tests.e2e.test_train_and_register import operator_env

    metrics_port = processes.free_port()
    prom = running_prometheus(
        tmp_path / "prom",
        {"router": serving.metrics_target, "operator": f"127.0.0.1:{metrics_port}"},
    )
    prom_info = next(prom)
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, tmp_path / "p")
    env |= {"PACE_PROMETHEUS_URL": prom_info.url, "PACE_SERVING_GATEWAY": serving.url}
    yield RolloutEnv(env=env, metrics_port=metrics_port)
    next(prom, None)

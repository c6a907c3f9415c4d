"""Fixtures for the serving side: Prometheus (Debian's package) and the local serving
runtime (router + seldon-core microservices from .venv-serving)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pace.adapters.object_store import S3Settings
from pace.localstack import processes, prometheus


@dataclass
class ServingRuntime:
    url: str
    metrics_target: str
    pid: int
    log: Path


def start_serving_runtime(kubeconfig: str, s3: S3Settings, workdir: Path) -> ServingRuntime:
    """`python -m pace.localstack.serving` with the object store in its environment."""
    port = processes.free_port()
    env = {**os.environ, **s3.to_env()}
    log = workdir / "serving-runtime.log"
    server = processes.start(
        "serving-runtime",
        [
            sys.executable,
            "-m",
            "pace.localstack.serving",
            "--kubeconfig",
            kubeconfig,
            "--port",
            str(port),
            "--workdir",
            str(workdir),
        ],
        log=log,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    processes.wait_until(
        server, lambda: processes.http_ok(f"{url}/ready"), timeout=60, what="ready"
    )
    return ServingRuntime(url=url, metrics_target=f"127.0.0.1:{port}", pid=server.pid, log=log)


def running_prometheus(
    workdir: Path, targets: dict[str, str]
) -> Iterator[prometheus.PrometheusInfo]:
    info = prometheus.start(workdir, targets)
    try:
        yield info
    finally:
        processes.stop(info.pid)

"""Fixtures for the serving side: Prometheus (Debian's package) and the local serving
runtime (router + seldon-core microservices from .venv-serving)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pace.adapters.object_store import S3Settings
from pace.localstack import processes, prometheus, serving

ServingRuntime = serving.RuntimeInfo


def start_serving_runtime(kubeconfig: str, s3: S3Settings, workdir: Path) -> ServingRuntime:
    """The local serving runtime with the object store in its environment."""
    return serving.start_runtime(kubeconfig, s3.to_env(), workdir)


def running_prometheus(
    workdir: Path, targets: dict[str, str]
) -> Iterator[prometheus.PrometheusInfo]:
    info = prometheus.start(workdir, targets)
    try:
        yield info
    finally:
        processes.stop(info.pid)


def create_seldon_deployment(
    cluster: Any,
    namespace: str,
    name: str,
    model_uri: str,
    *,
    method: str = "predict_proba",
    log_url: str | None = None,
) -> None:
    """A one-predictor SeldonDeployment (main, 100 %) serving the model folder at model_uri;
    with ``log_url``, its graph logs requests, responses and feedback there (mode all)."""
    graph: dict[str, Any] = {
        "name": "model",
        "modelUri": model_uri,
        "parameters": [{"name": "method", "type": "STRING", "value": method}],
    }
    if log_url:
        graph["logger"] = {"mode": "all", "url": log_url}
    cluster.custom.create_namespaced_custom_object(
        "machinelearning.seldon.io",
        "v1",
        namespace,
        "seldondeployments",
        {
            "apiVersion": "machinelearning.seldon.io/v1",
            "kind": "SeldonDeployment",
            "metadata": {"name": name},
            "spec": {
                "predictors": [
                    {
                        "name": "main",
                        "traffic": 100,
                        "graph": graph,
                    }
                ]
            },
        },
    )

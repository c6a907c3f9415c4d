"""Fixtures for the serving side: Prometheus (Debian's package) and the local serving
runtime (router + seldon-core microservices from .venv-serving)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pace.adapters.kube_api import KubeApi
from pace.adapters.object_store import S3Settings
from pace.core import serving_credentials
from pace.localstack import processes, prometheus, serving

ServingRuntime = serving.RuntimeInfo


def start_serving_runtime(kubeconfig: str, workdir: Path) -> ServingRuntime:
    """The local serving runtime; it holds no store keys (each predictor reads its model with
    the Secret its graph's envSecretRefName names)."""
    return serving.start_runtime(kubeconfig, workdir)


def store_env(s3: S3Settings) -> dict[str, str]:
    """A serving Secret's entries (Seldon's rclone format) for the keys of ``s3``."""
    key = serving_credentials.ServingKey(s3.access_key, s3.secret_key)
    return serving_credentials.secret_data(key, endpoint=s3.endpoint, secure=s3.secure)


def create_store_secret(cluster: Any, namespace: str, name: str, s3: S3Settings) -> None:
    """A Secret a SeldonDeployment's envSecretRefName can name, with the keys of ``s3`` (for
    tests that write SeldonDeployments themselves; the operator writes its own)."""
    KubeApi(cluster.client).apply_secret(namespace, name, store_env(s3))


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
    secret: str | None,
    method: str = "predict_proba",
    log_url: str | None = None,
) -> None:
    """A one-predictor SeldonDeployment (main, 100 %) serving the model folder at model_uri,
    read with the Secret ``secret`` (envSecretRefName; None: no Secret named); with
    ``log_url``, its graph logs requests, responses and feedback there (mode all)."""
    graph: dict[str, Any] = {
        "name": "model",
        "modelUri": model_uri,
        "parameters": [{"name": "method", "type": "STRING", "value": method}],
    }
    if secret is not None:
        graph["envSecretRefName"] = secret
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

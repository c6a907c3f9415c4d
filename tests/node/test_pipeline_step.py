"""A pipeline step as a container on the node, the way Kubeflow runs it: the `load_data`
executor of the compiled pipeline (its image, command and arguments, the store's address as
plain variables and its keys from the Secret its platform spec names), from
`pace_components.images.BASE_IMAGE` — the pipeline image `make images` built, imported under
that very name, proving the name is real.

The executor input is what Kubeflow's driver would give (the parameters, an output artifact
URI); the executor's output metadata comes back as the container's termination message
(``terminationMessagePath`` set to its output file), so nothing is added to the command.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from sklearn.datasets import load_wine

from pace.adapters import pipeline_backend
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.api.mlmodel import MLModelSpec
from pace.core import pipeline_plan
from pace.localstack import node
from pace.localstack.minio import MinioInfo
from pace_components.images import BASE_IMAGE
from tests.node.conftest import image_archive, kubectl, s3_secret

pytestmark = pytest.mark.timeout(900)
NAMESPACE = "kubeflow-steps"


def executor_pod(ir: Path, task: str, executor_input: dict[str, Any]) -> dict[str, Any]:
    """The Pod Kubeflow's launcher would run for ``task`` (its container and platform spec),
    with the executor input substituted for ``{{$}}``."""
    spec, platform = yaml.safe_load_all(ir.read_text())
    name = f"exec-{task.replace('_', '-')}"
    container = spec["deploymentSpec"]["executors"][name]["container"]
    secrets = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][name]
    env = list(container.get("env", []))
    for ref in secrets.get("secretAsEnv", []):
        env += [
            {
                "name": k["envVar"],
                "valueFrom": {"secretKeyRef": {"name": ref["secretName"], "key": k["secretKey"]}},
            }
            for k in ref["keyToEnv"]
        ]
    args = [json.dumps(executor_input) if a == "{{$}}" else a for a in container["args"]]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": container["image"],
                    "imagePullPolicy": "IfNotPresent",
                    "command": container["command"],
                    "args": args,
                    "env": env,
                    "volumeMounts": [{"name": "outputs", "mountPath": "/outputs"}],
                    "terminationMessagePath": "/outputs/executor_output.json",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            "volumes": [{"name": "outputs", "emptyDir": {}}],
        },
    }


def test_a_pipeline_step_runs_from_the_pipeline_image_with_the_secret_reference(
    cluster: Any, host_store: MinioInfo, tmp_path: Path
) -> None:
    plane, info = cluster
    store = host_store
    node.import_image(
        Path(info.root) / "containerd" / "containerd.sock",
        image_archive("pace-pipeline"),
        BASE_IMAGE,
    )
    s3 = S3Settings(
        endpoint=store.endpoint,
        bucket="pace",
        access_key=store.access_key,
        secret_key=store.secret_key,
    )
    objects = ObjectStore(s3)
    objects.ensure_bucket()
    objects.put("data/wine.csv", load_wine(as_frame=True).frame.to_csv(index=False).encode())
    spec = MLModelSpec.model_validate(
        {
            "task": "classification",
            "dataset": {"uri": "s3://pace/data/wine.csv", "target": "target"},
        }
    )
    steps = pipeline_plan.StepSettings(
        s3_endpoint=store.endpoint,
        s3_bucket="pace",
        s3_secure=False,
        credentials_secret="pace-s3",
    )
    ir, _ = pipeline_backend.compile_for_spec(
        spec_hash="step0001",
        parameters=pipeline_plan.spec_parameters(spec),
        cache_dir=tmp_path / "compiled",
        steps=steps,
    )
    s3_secret(plane, NAMESPACE, store)
    executor_input = {
        "inputs": {
            "parameterValues": {
                "dataset_uri": "s3://pace/data/wine.csv",
                "target": "target",
                "features": [],
                "group_by": "",
                "recent": {},
                "namespace": NAMESPACE,
                "model_name": "wine",
                "recent_until": 0.0,
            }
        },
        "outputs": {
            "artifacts": {
                "dataset": {
                    "artifacts": [
                        {
                            "name": "dataset",
                            "type": {"schemaTitle": "system.Dataset"},
                            "uri": "/outputs/dataset",
                            "metadata": {},
                        }
                    ]
                },
                "recent_rows": {
                    "artifacts": [
                        {
                            "name": "recent_rows",
                            "type": {"schemaTitle": "system.Dataset"},
                            "uri": "/outputs/recent_rows",
                            "metadata": {},
                        }
                    ]
                },
            },
            "outputFile": "/outputs/executor_output.json",
        },
    }
    pod = executor_pod(ir, "load_data", executor_input)
    assert pod["spec"]["containers"][0]["image"] == BASE_IMAGE
    kubectl(plane, "apply", "-f", "-", stdin=json.dumps(pod))
    created = time.monotonic()
    deadline = created + 300
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = json.loads(
            kubectl(plane, "get", "pod", pod["metadata"]["name"], "-n", NAMESPACE, "-o", "json")
        )["status"]
        if status.get("phase") in ("Succeeded", "Failed"):
            break
        time.sleep(1)
    log = kubectl(plane, "logs", pod["metadata"]["name"], "-n", NAMESPACE, check=False)
    print(f"load_data Pod {status.get('phase')} in {time.monotonic() - created:.1f}s")
    assert status.get("phase") == "Succeeded", log[-3000:]
    assert "loaded 178 rows x 14 columns from s3://pace/data/wine.csv" in log
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    output = json.loads(terminated["message"])
    metadata = output["artifacts"]["dataset"]["artifacts"][0]["metadata"]
    assert metadata["rows"] == 178
    assert "target" in metadata["columns"]

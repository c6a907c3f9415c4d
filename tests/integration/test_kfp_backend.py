"""The kfp backend's calls against an HTTP server speaking KFP v2beta1 (see servers/kfp_api)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from pace.adapters import pipeline_backend
from pace.api.mlmodel import MLModelSpec
from pace.core import pipeline_plan
from tests.servers.kfp_api import KfpApi

SPEC = MLModelSpec.model_validate(
    {"task": "classification", "dataset": {"uri": "sklearn://iris", "target": "target"}}
)
REQUEST = pipeline_plan.RunRequest(
    namespace="ns",
    model_name="iris",
    model_uid="5f0c2a9e-1111-2222-3333-444455556666",
    version="v1",
    run_name="iris-v1-5f0c2a-0123abcd",
    trigger="create",
    spec_hash="0123abcd",
    pipeline_key="pipelines/0123abcd/pipeline.yaml",
    serving_metrics={},
    reference_uri="",
    serving_model_uri="",
)
STEPS = pipeline_plan.StepSettings(
    s3_endpoint="minio.storage.svc:9000",
    s3_bucket="models",
    s3_secure=False,
    credentials_secret="pace-s3",
)


def test_submit_is_idempotent_and_status_is_mapped(
    kfp_api: tuple[KfpApi, str], tmp_path: Path
) -> None:
    api, host = kfp_api
    ir, _ = pipeline_backend.compile_for_spec(
        spec_hash="0123abcd",
        parameters=pipeline_plan.spec_parameters(SPEC),
        cache_dir=tmp_path,
        steps=STEPS,
    )
    backend = pipeline_backend.KfpBackend(host, steps=STEPS)
    assert backend.status(REQUEST).state == "NotFound"

    operator_env = {"AWS_SECRET_ACCESS_KEY": "s3cr3t-value", "PACE_S3_ENDPOINT": "127.0.0.1:9"}
    backend.submit(REQUEST, ir, env=operator_env)
    backend.submit(REQUEST, ir, env=operator_env)  # a restarted operator: no second run
    assert len(api.runs) == 1
    [run] = api.runs.values()
    assert run["display_name"] == "ns/iris-v1-5f0c2a-0123abcd"
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "pace-training"
    assert run["runtime_config"]["parameters"]["version"] == "v1"
    assert run["runtime_config"]["parameters"]["run_name"] == "iris-v1-5f0c2a-0123abcd"
    assert run["runtime_config"]["parameters"]["model_uid"] == REQUEST.model_uid
    assert_steps_configured(run)
    # The same model name and run in another namespace is another run.
    other = dataclasses.replace(REQUEST, namespace="other")
    assert backend.status(other).state == "NotFound"
    backend.submit(other, ir, env={})
    assert len(api.runs) == 2
    assert [e["display_name"] for e in api.experiments.values()] == ["pace"]
    assert backend.status(REQUEST).state == "Pending"

    api.set_run(
        "ns/iris-v1-5f0c2a-0123abcd",
        state="RUNNING",
        tasks=[
            {"display_name": "load-data", "state": "SUCCEEDED"},
            {"display_name": "train-model", "state": "RUNNING"},
        ],
    )
    state = backend.status(REQUEST)
    assert (state.state, state.step) == ("Running", "train-model")

    api.set_run(
        "ns/iris-v1-5f0c2a-0123abcd",
        state="FAILED",
        tasks=[
            {"display_name": "train-model", "state": "FAILED", "error": {"message": "OOMKilled"}}
        ],
        error="task train-model failed",
    )
    state = backend.status(REQUEST)
    assert state.state == "Failed"
    assert state.failed_step == "train-model"
    assert "train-model failed" in state.message

    # A resubmission after a transient failure is a new KFP run of its own name (and, like
    # the first, submitted once however often the operator asks).
    retry = dataclasses.replace(REQUEST, retry=1)
    assert backend.status(retry).state == "NotFound"
    backend.submit(retry, ir, env=operator_env)
    backend.submit(retry, ir, env=operator_env)
    assert len(api.runs) == 3
    assert "ns/iris-v1-5f0c2a-0123abcd-retry-1" in {r["display_name"] for r in api.runs.values()}
    assert backend.status(retry).state == "Pending"
    assert backend.status(REQUEST).state == "Failed"


def test_a_batch_run_goes_to_kubeflow_the_same_way(
    kfp_api: tuple[KfpApi, str], tmp_path: Path
) -> None:
    """spec.batch: the batch pipeline is submitted like a training run (once, named by its
    namespace and run, its step given the store by Secret reference only)."""
    api, host = kfp_api
    ir = pipeline_backend.compile_batch(cache_dir=tmp_path, steps=STEPS)
    backend = pipeline_backend.KfpBackend(host, steps=STEPS)
    request = pipeline_plan.BatchRequest(
        namespace="ns",
        model_name="iris",
        model_uid=REQUEST.model_uid,
        run_name="iris-batch-5f0c2a-202611280200",
        version="v2",
        model_uri="s3://models/models/ns/iris/5f0c2a9e/versions/v2/model.joblib",
        input_uri="s3://drops/iris/",
        output_uri="s3://scored/iris/",
        task="classification",
        target="target",
    )
    operator_env = {"AWS_SECRET_ACCESS_KEY": "s3cr3t-value", "PACE_S3_ENDPOINT": "127.0.0.1:9"}
    backend.submit(request, ir, env=operator_env)
    backend.submit(request, ir, env=operator_env)  # a restarted operator: no second run
    [run] = api.runs.values()
    assert run["display_name"] == "ns/iris-batch-5f0c2a-202611280200"
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "pace-batch"
    parameters = run["runtime_config"]["parameters"]
    assert parameters["version"] == "v2"
    assert parameters["input_uri"] == "s3://drops/iris/"
    assert parameters["features"] == []
    assert_steps_configured(run, steps=1)
    assert backend.status(request).state == "Pending"


def assert_steps_configured(run: dict[str, Any], *, steps: int = 7) -> None:
    """Every step of the submitted pipeline reads the store's keys from the Secret by
    reference (kfp-kubernetes platform spec) and its address from plain variables; no key
    value from the operator's environment reaches Kubeflow."""
    assert "s3cr3t-value" not in json.dumps(run)
    assert "127.0.0.1:9" not in json.dumps(run)
    spec = run["pipeline_spec"]["pipeline_spec"]
    platform = run["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]
    executors = platform["deploymentSpec"]["executors"]
    executors_of_steps = spec["deploymentSpec"]["executors"]
    assert len(executors_of_steps) == steps
    for name, executor in executors_of_steps.items():
        env = {e["name"]: e["value"] for e in executor["container"]["env"]}
        assert env == {
            "PACE_S3_ENDPOINT": "minio.storage.svc:9000",
            "PACE_S3_BUCKET": "models",
            "PACE_S3_SECURE": "false",
        }, name
        [secret] = executors[name]["secretAsEnv"]
        assert secret["secretName"] == "pace-s3", name
        assert {k["secretKey"]: k["envVar"] for k in secret["keyToEnv"]} == {
            "accessKey": "AWS_ACCESS_KEY_ID",
            "secretKey": "AWS_SECRET_ACCESS_KEY",
        }, name


def test_local_pipeline_carries_no_cluster_settings(tmp_path: Path) -> None:
    """The local runner's IR has no platform spec and no step environment (its steps inherit
    the worker's), and is cached apart from a kfp IR of the same spec."""
    local, _ = pipeline_backend.compile_for_spec(
        spec_hash="0123abcd", parameters=pipeline_plan.spec_parameters(SPEC), cache_dir=tmp_path
    )
    remote, _ = pipeline_backend.compile_for_spec(
        spec_hash="0123abcd",
        parameters=pipeline_plan.spec_parameters(SPEC),
        cache_dir=tmp_path,
        steps=STEPS,
    )
    assert local != remote
    docs = list(yaml.safe_load_all(local.read_text()))
    assert len(docs) == 1
    assert all("env" not in e["container"] for e in docs[0]["deploymentSpec"]["executors"].values())
    assert len(list(yaml.safe_load_all(remote.read_text()))) == 2

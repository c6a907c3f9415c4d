"""The kfp backend's calls against an HTTP server speaking KFP v2beta1 (see servers/kfp_api)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

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
)


def test_submit_is_idempotent_and_status_is_mapped(
    kfp_api: tuple[KfpApi, str], tmp_path: Path
) -> None:
    api, host = kfp_api
    ir, _ = pipeline_backend.compile_for_spec(
        spec_hash="0123abcd", parameters=pipeline_plan.spec_parameters(SPEC), cache_dir=tmp_path
    )
    backend = pipeline_backend.KfpBackend(host)
    assert backend.status(REQUEST).state == "NotFound"

    backend.submit(REQUEST, ir, env={})
    backend.submit(REQUEST, ir, env={})  # a restarted operator submits again: no second run
    assert len(api.runs) == 1
    [run] = api.runs.values()
    assert run["display_name"] == "ns/iris-v1-5f0c2a-0123abcd"
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == "pace-training"
    assert run["runtime_config"]["parameters"]["version"] == "v1"
    assert run["runtime_config"]["parameters"]["run_name"] == "iris-v1-5f0c2a-0123abcd"
    assert run["runtime_config"]["parameters"]["model_uid"] == REQUEST.model_uid
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

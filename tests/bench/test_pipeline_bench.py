"""Compile time per spec (cold and cached) and local pipeline wall time (wine, breast_cancer),
cold (a fresh interpreter per step, as kfp.local's SubprocessRunner does) and warm (steps
forked from the warm step server, `pace.adapters.warm_steps`), beside the bare in-process fit
of the same spec (load the data, cross-validate, fit) in the same run.

Figures only; nothing here asserts on time.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from pace.adapters import pipeline_backend
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.api.mlmodel import MLModelSpec
from pace.core import pipeline_plan, spec_hash
from tests.bench.results import record

SPECS = {
    "wine": {
        "task": "classification",
        "dataset": {"uri": "sklearn://wine", "target": "target"},
        "training": {"algorithm": "random_forest", "hyperparameters": {"n_estimators": 50}},
    },
    "breast_cancer": {
        "task": "classification",
        "dataset": {"uri": "sklearn://breast_cancer", "target": "target"},
        "training": {"algorithm": "auto"},
    },
}


def test_compile_and_local_run_times(s3_settings: S3Settings, tmp_path: Path) -> None:
    ObjectStore(s3_settings).ensure_bucket()
    figures: dict[str, float] = {}
    backend = pipeline_backend.LocalBackend(tmp_path / "runs")
    warm = pipeline_backend.LocalBackend(tmp_path / "warm-runs")
    for name, raw in SPECS.items():
        spec = MLModelSpec.model_validate(raw)
        hash_ = spec_hash.spec_hash(spec)
        params = pipeline_plan.spec_parameters(spec)
        started = time.perf_counter()
        ir, cached = pipeline_backend.compile_for_spec(
            spec_hash=hash_, parameters=params, cache_dir=tmp_path / "cache"
        )
        figures[f"compile_cold_seconds[{name}]"] = round(time.perf_counter() - started, 4)
        assert not cached
        started = time.perf_counter()
        _, cached = pipeline_backend.compile_for_spec(
            spec_hash=hash_, parameters=params, cache_dir=tmp_path / "cache"
        )
        figures[f"compile_cached_seconds[{name}]"] = round(time.perf_counter() - started, 6)
        assert cached
        request = _request(name, hash_)
        figures[f"local_pipeline_seconds[{name}]"] = _run(backend, request, ir, s3_settings)
        figures[f"bare_fit_seconds[{name}]"] = _bare_fit(spec)
    assert warm.start_warm(), "the warm step server did not start"
    try:
        for name, raw in SPECS.items():
            spec = MLModelSpec.model_validate(raw)
            hash_ = spec_hash.spec_hash(spec)
            ir, _ = pipeline_backend.compile_for_spec(
                spec_hash=hash_,
                parameters=pipeline_plan.spec_parameters(spec),
                cache_dir=tmp_path / "cache",
            )
            for attempt, version in (("first", "v2"), ("second", "v3")):
                request = dataclasses.replace(
                    _request(name, hash_), run_name=f"{name}-warm-{attempt}", version=version
                )
                seconds = _run(warm, request, ir, s3_settings)
                figures[f"warm_pipeline_seconds[{name}][{attempt}]"] = seconds
    finally:
        warm.stop_warm()
    record("pipeline", figures)


def _request(name: str, hash_: str) -> pipeline_plan.RunRequest:
    return pipeline_plan.RunRequest(
        namespace="bench",
        model_name=name,
        model_uid="bench",
        version="v1",
        run_name=f"{name}-v1-{hash_[:8]}",
        trigger="bench",
        spec_hash=hash_,
        pipeline_key="",
        serving_metrics={},
        reference_uri="",
        serving_model_uri="",
    )


def _run(
    backend: pipeline_backend.LocalBackend,
    request: pipeline_plan.RunRequest,
    ir: Path,
    s3_settings: S3Settings,
) -> float:
    started = time.perf_counter()
    backend.submit(request, ir, env=s3_settings.to_env())
    while (state := backend.status(request)).state not in ("Succeeded", "Failed", "Lost"):
        time.sleep(0.05)
    seconds = round(time.perf_counter() - started, 2)
    assert state.state == "Succeeded", (
        state,
        (backend.run_dir(request) / "worker.log").read_text()[-3000:],
    )
    return seconds


def _bare_fit(spec: MLModelSpec) -> float:
    """The same data and estimator, fitted in this process once its imports are warm (the
    second of two fits is timed): the floor a pipeline run could approach."""
    from pace.core import datasets, training

    def fit() -> float:
        started = time.perf_counter()
        frame = datasets.load_builtin(spec.dataset.uri.removeprefix("sklearn://"))
        training.train(
            frame,
            target=spec.dataset.target,
            task=spec.task,
            algorithm=spec.training.algorithm,
            hyperparameters=dict(spec.training.hyperparameters),
            search=spec.training.search.model_dump(by_alias=True, mode="json", exclude_none=True),
            cv_folds=spec.training.validation.cv_folds,
            seed=spec.training.validation.seed,
        )
        return time.perf_counter() - started

    fit()
    return round(fit(), 3)


def test_explainer_times(tmp_path: Path) -> None:
    """Seconds the explain-model step takes per method (permutation, kernel SHAP, anchors)
    on the wine data (178 rows, 13 features; 20 rows explained: anchors take 17 s there, 23 s
    for 100) and on the dominant-feature data of tests/components/test_explainers (20 and 100
    rows explained)."""
    from tests.components.test_explainers import explain, fitted_frames

    figures: dict[str, float] = {}
    for data, sizes in (("wine", (20,)), ("dominant", (20, 100))):
        fitted = fitted_frames(tmp_path / data, data)
        for samples in sizes:
            for method in ("permutation", "kernel_shap", "anchors"):
                started = time.perf_counter()
                explain(fitted, method, samples=samples)
                seconds = round(time.perf_counter() - started, 2)
                figures[f"explain_seconds[{data}][{method}][{samples} rows]"] = seconds
    record("explainers", figures)

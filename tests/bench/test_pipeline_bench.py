"""Compile time per spec (cold and cached) and local pipeline wall time (wine, breast_cancer).

Figures only; nothing here asserts on time.
"""

from __future__ import annotations

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
        request = pipeline_plan.RunRequest(
            namespace="bench",
            model_name=name,
            version="v1",
            run_name=f"{name}-v1-{hash_[:8]}",
            trigger="bench",
            spec_hash=hash_,
            pipeline_key="",
            serving_metrics={},
            reference_uri="",
        )
        started = time.perf_counter()
        backend.submit(request, ir, env=s3_settings.to_env())
        while (state := backend.status(request)).state not in ("Succeeded", "Failed", "Lost"):
            time.sleep(0.2)
        figures[f"local_pipeline_seconds[{name}]"] = round(time.perf_counter() - started, 2)
        assert state.state == "Succeeded", state
    record("pipeline", figures)

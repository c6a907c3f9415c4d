"""Each pipeline step's python_func on real small data with real files as artifacts, and the
pipeline compiled to IR that the kfp SDK loads back."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from kfp import compiler, components, dsl

import pace_components
from pace.api.mlmodel import MLModelSpec
from pace.core import pipeline_plan

COMPONENTS = Path(__file__).parents[2] / "components" / "pace_components"
STEPS = [
    "load_data",
    "validate_data",
    "train_model",
    "import_model",
    "evaluate_model",
    "explain_model",
    "fit_drift_reference",
    "register_model",
    "score_batch",
]
STDLIB_OK = {"json", "io", "tempfile", "pathlib", "datetime", "__future__"}


def artifact(cls: type, path: Path, metadata: dict[str, Any] | None = None) -> Any:
    art = cls(name=path.name, uri=str(path), metadata=dict(metadata or {}))
    art.path = str(path)  # type: ignore[misc]
    return art


@pytest.mark.parametrize("step", STEPS)
def test_third_party_imports_are_inside_the_body(step: str) -> None:
    """Module level imports only kfp and pace_components.images (KFP catalogue rule)."""
    tree = ast.parse((COMPONENTS / f"{step}.py").read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    modules = {(n.module if isinstance(n, ast.ImportFrom) else n.names[0].name) for n in top}
    assert modules <= {"kfp", "pace_components.images"}, modules
    component = getattr(pace_components, step)
    assert hasattr(component, "python_func")


@pytest.fixture(scope="module")
def wine_steps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """load → validate → train → evaluate → explain → reference on sklearn://wine."""
    d = tmp_path_factory.mktemp("steps")
    out: dict[str, Any] = {"dir": d}
    dataset = artifact(dsl.Dataset, d / "dataset.parquet")
    pace_components.load_data.python_func(
        dataset_uri="sklearn://wine",
        target="target",
        features=[],
        group_by="",
        recent={},
        namespace="ns",
        model_name="wine",
        recent_until=0.0,
        dataset=dataset,
        recent_rows=artifact(dsl.Dataset, d / "recent.parquet"),
    )
    out["dataset"] = dataset
    report = artifact(dsl.Artifact, d / "validation.json")
    pace_components.validate_data.python_func(
        dataset=dataset, target="target", task="classification", reference_uri="", report=report
    )
    out["report"] = report
    model, train, test, search = (
        artifact(dsl.Model, d / "model.joblib"),
        artifact(dsl.Dataset, d / "train.parquet"),
        artifact(dsl.Dataset, d / "test.parquet"),
        artifact(dsl.Artifact, d / "search.json"),
    )
    pace_components.train_model.python_func(
        dataset=dataset,
        target="target",
        task="classification",
        algorithm="random_forest",
        hyperparameters=json.dumps({"n_estimators": 20.0}),
        search=json.dumps({"strategy": "grid", "space": {"max_depth": [2, None]}}),
        test_size=0.25,
        cv_folds=3,
        seed=1,
        group_by="",
        categorical=[],
        model=model,
        train_set=train,
        test_set=test,
        search_report=search,
    )
    out |= {"model": model, "train": train, "test": test, "search": search}
    metrics, verdict = artifact(dsl.Metrics, d / "metrics"), artifact(dsl.Artifact, d / "v.json")
    pace_components.evaluate_model.python_func(
        model=model,
        test_set=test,
        target="target",
        task="classification",
        quality_gates={"metrics": [{"metric": "accuracy", "min": 0.99999}]},
        serving_metrics={},
        serving_model_uri="",
        metrics=metrics,
        verdict=verdict,
    )
    out |= {"metrics": metrics, "verdict": verdict}
    explanation, plot = artifact(dsl.Artifact, d / "e.json"), artifact(dsl.Artifact, d / "e.png")
    pace_components.explain_model.python_func(
        model=model,
        train_set=train,
        test_set=test,
        target="target",
        method="permutation",
        samples=30,
        seed=1,
        explanation=explanation,
        plot=plot,
    )
    out |= {"explanation": explanation, "plot": plot}
    reference, meta = (
        artifact(dsl.Dataset, d / "ref.parquet"),
        artifact(dsl.Artifact, d / "ref.json"),
    )
    pace_components.fit_drift_reference.python_func(
        train_set=train,
        target="target",
        categorical=[],
        seed=1,
        reference=reference,
        reference_meta=meta,
    )
    out |= {"reference": reference, "reference_meta": meta}
    return out


def test_load_data_writes_the_frame_and_its_hash(wine_steps: dict[str, Any]) -> None:
    frame = pd.read_parquet(wine_steps["dataset"].path)
    assert frame.shape == (178, 14)
    assert frame.columns[-1] == "target"
    assert wine_steps["dataset"].metadata["data_hash"].startswith("sha256:")
    assert wine_steps["dataset"].metadata["rows"] == 178


def test_validate_and_search_reports(wine_steps: dict[str, Any]) -> None:
    report = json.loads(Path(wine_steps["report"].path).read_text())
    assert report["passed"] is True
    assert report["statistics"]["alcohol"]["kind"] == "numeric"
    search = json.loads(Path(wine_steps["search"].path).read_text())
    assert [c["params"] for c in search["candidates"]] == [
        {"n_estimators": 20, "max_depth": 2},
        {"n_estimators": 20, "max_depth": None},  # null came through the JSON parameter
    ]
    assert search["chosen"]["algorithm"] == "random_forest"
    model = joblib.load(wine_steps["model"].path)
    assert model.named_steps["model"].n_estimators == 20
    train, test = (pd.read_parquet(wine_steps[k].path) for k in ("train", "test"))
    assert len(test) == 45
    assert len(train) + len(test) == 178


def test_evaluate_records_metrics_and_a_failed_gate(wine_steps: dict[str, Any]) -> None:
    assert 0.8 <= wine_steps["metrics"].metadata["accuracy"] <= 1.0
    assert {"f1", "roc_auc", "log_loss"} <= set(wine_steps["metrics"].metadata)
    verdict = json.loads(Path(wine_steps["verdict"].path).read_text())
    if wine_steps["metrics"].metadata["accuracy"] < 0.99999:
        assert verdict["passed"] is False
        assert "accuracy" in verdict["failures"][0]


def test_explanation_and_reference(wine_steps: dict[str, Any]) -> None:
    explanation = json.loads(Path(wine_steps["explanation"].path).read_text())
    assert explanation["method"] == "permutation"
    assert set(explanation["importances"]) == set(
        pd.read_parquet(wine_steps["dataset"].path).columns
    ) - {"target"}
    assert Path(wine_steps["plot"].path).read_bytes().startswith(b"\x89PNG")
    reference = pd.read_parquet(wine_steps["reference"].path)
    assert "target" not in reference.columns
    meta = json.loads(Path(wine_steps["reference_meta"].path).read_text())
    assert meta["rows"] == len(reference)
    assert meta["categorical"] == []


def test_validate_data_fails_with_a_readable_report(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0] * 30, "target": [None] * 30})
    dataset = artifact(dsl.Dataset, tmp_path / "d.parquet")
    frame.to_parquet(dataset.path)
    report = artifact(dsl.Artifact, tmp_path / "r.json")
    with pytest.raises(ValueError, match=r"target 'target' has 100\.0% missing values"):
        pace_components.validate_data.python_func(
            dataset=dataset, target="target", task="classification", reference_uri="", report=report
        )
    assert json.loads(Path(report.path).read_text())["passed"] is False


def test_compiled_pipeline_loads_back_with_spec_defaults(tmp_path: Path) -> None:
    spec = MLModelSpec.model_validate(
        {
            "task": "regression",
            "dataset": {"uri": "sklearn://diabetes", "target": "target"},
            "training": {
                "algorithm": "ridge",
                # null is a common value of a search space; KFP parameters cannot hold it.
                "search": {"strategy": "grid", "space": {"solver": ["auto", None]}},
            },
        }
    )
    path = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(
        pace_components.training_pipeline,
        str(path),
        pipeline_parameters=pipeline_plan.spec_parameters(spec),
    )
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == "pace-training"
    inputs = loaded.component_spec.inputs
    assert inputs["algorithm"].default == "ridge"
    assert inputs["dataset_uri"].default == "sklearn://diabetes"
    assert inputs["task"].default == "regression"
    assert json.loads(inputs["search"].default)["space"] == {"solver": ["auto", None]}
    tasks = set(loaded.pipeline_spec.root.dag.tasks)
    assert {
        "load-data",
        "validate-data",
        "train-model",
        "evaluate-model",
        "explain-model",
        "fit-drift-reference",
        "register-model",
    } == tasks


def test_a_spec_model_compiles_the_import_variant(tmp_path: Path) -> None:
    """spec.model: import_model takes train_model's place; every other step is the same."""
    from pace.adapters import pipeline_backend

    spec = MLModelSpec.model_validate(
        {
            "task": "classification",
            "dataset": {"uri": "sklearn://wine", "target": "target"},
            "model": {"uri": "s3://models-in/wine/"},
        }
    )
    parameters = pipeline_plan.spec_parameters(spec)
    path, cached = pipeline_backend.compile_for_spec(
        spec_hash="h", parameters=parameters, cache_dir=tmp_path
    )
    assert not cached
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == "pace-import"
    assert loaded.component_spec.inputs["model_uri"].default == "s3://models-in/wine/"
    assert set(loaded.pipeline_spec.root.dag.tasks) == {
        "load-data",
        "validate-data",
        "import-model",
        "evaluate-model",
        "explain-model",
        "fit-drift-reference",
        "register-model",
    }
    # Without spec.model the same call compiles the training pipeline.
    plain = MLModelSpec.model_validate(spec.model_dump(by_alias=True) | {"model": None})
    trained, _ = pipeline_backend.compile_for_spec(
        spec_hash="h2", parameters=pipeline_plan.spec_parameters(plain), cache_dir=tmp_path
    )
    assert components.load_component_from_file(str(trained)).name == "pace-training"


def test_the_batch_pipeline_compiles_with_run_time_parameters(tmp_path: Path) -> None:
    from pace.adapters import pipeline_backend

    path = pipeline_backend.compile_batch(cache_dir=tmp_path)
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == "pace-batch"
    assert set(loaded.pipeline_spec.root.dag.tasks) == {"score-batch"}
    assert {"model_uri", "input_uri", "output_uri", "run_name", "version"} <= set(
        loaded.component_spec.inputs
    )
    assert pipeline_backend.compile_batch(cache_dir=tmp_path) == path  # cached

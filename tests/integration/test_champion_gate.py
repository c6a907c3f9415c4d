"""minDelta compares the candidate with the serving version on the same rows: the evaluate
step loads the serving version's model from MinIO and scores it on the run's test set.

A retrain on fresh data has a different test set than the serving version was measured on,
so its recorded metrics are not comparable; they remain the fallback when the serving model
cannot be read or cannot score the rows.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import joblib
import pytest
from kfp import dsl
from sklearn.datasets import load_wine
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import pace_components
from pace.adapters.object_store import ObjectStore, S3Settings
from tests.components.test_steps import artifact


@pytest.fixture
def split(tmp_path: Path) -> tuple[Any, Any]:
    wine = load_wine(as_frame=True).frame
    test = wine.sample(frac=0.3, random_state=0)
    train = wine.drop(test.index)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, C=0.01))
    model.fit(train.drop(columns="target"), train["target"])
    model_art = artifact(dsl.Model, tmp_path / "model.joblib")
    joblib.dump(model, model_art.path)
    test_art = artifact(dsl.Dataset, tmp_path / "test.parquet")
    test.to_parquet(test_art.path)
    return model_art, test_art


def _evaluate(
    tmp_path: Path, split: tuple[Any, Any], serving_metrics: dict[str, float], uri: str
) -> dict[str, Any]:
    model, test = split
    verdict = artifact(dsl.Artifact, tmp_path / "verdict.json")
    pace_components.evaluate_model.python_func(
        model=model,
        test_set=test,
        target="target",
        task="classification",
        quality_gates={"minDelta": 0.01},
        serving_metrics=serving_metrics,
        serving_model_uri=uri,
        metrics=artifact(dsl.Metrics, tmp_path / "metrics"),
        verdict=verdict,
    )
    return dict(json.loads(Path(verdict.path).read_text()))


def _put_model(store: ObjectStore, model: Any) -> str:
    buf = io.BytesIO()
    joblib.dump(model, buf)
    return store.put("models/ns/wine/u/versions/v1/model.joblib", buf.getvalue())


@pytest.fixture
def step_env(s3_settings: S3Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's settings in the environment, as a pipeline step gets them."""
    for key, value in s3_settings.to_env().items():
        monkeypatch.setenv(key, value)


@pytest.mark.usefixtures("step_env")
def test_the_serving_model_is_scored_on_the_runs_test_set(
    tmp_path: Path, split: tuple[Any, Any], store: ObjectStore
) -> None:
    wine = load_wine()
    # The serving version predicts one class: poor on these rows, whatever it recorded.
    poor = DummyClassifier(strategy="most_frequent").fit(wine.data, wine.target)
    uri = _put_model(store, poor)

    verdict = _evaluate(tmp_path, split, {"accuracy": 0.999}, uri)

    assert verdict["passed"] is True, verdict
    delta = next(c for c in verdict["checks"] if c["gate"] == "minDelta")
    assert "on this run's test set" in delta["message"]
    # 0.4 = the share of the most frequent class among these rows, not the recorded 0.999.
    assert " vs 0.4" in delta["message"], delta["message"]


@pytest.mark.usefixtures("step_env")
def test_recorded_metrics_are_the_fallback_when_the_serving_model_cannot_be_read(
    tmp_path: Path, split: tuple[Any, Any], store: ObjectStore
) -> None:
    missing = store.uri("models/ns/wine/u/versions/v1/model.joblib")

    verdict = _evaluate(tmp_path, split, {"accuracy": 1.0}, missing)

    assert verdict["passed"] is False
    assert "vs 1.0000 as recorded when it was trained" in verdict["failures"][0]
    assert "minDelta 0.01" in verdict["failures"][0]
    # And so is a model that cannot score these rows (it was trained on other features).
    other_uri = _put_model(store, LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    verdict = _evaluate(tmp_path, split, {"accuracy": 1.0}, other_uri)
    assert "as recorded when it was trained" in verdict["failures"][0]

"""The import_model step (spec.model) against a real MinIO: the file is fetched, hashed, loaded
and called the way the serving runtime will call it; what cannot serve the dataset is refused
with a message that names spec.model.uri and says why."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from kfp import dsl
from sklearn.datasets import load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import pace_components
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.core.imported_model import ModelImportError
from tests.components.test_steps import artifact

pytestmark = pytest.mark.integration


@pytest.fixture
def step_env(s3_settings: S3Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's settings in the environment, as a pipeline step gets them."""
    for key, value in s3_settings.to_env().items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def wine_dataset(tmp_path: Path) -> Any:
    frame = load_wine(as_frame=True).frame
    dataset = artifact(dsl.Dataset, tmp_path / "dataset.parquet")
    frame.to_parquet(dataset.path, index=False)
    return dataset


def _dump(model: Any) -> bytes:
    buf = io.BytesIO()
    joblib.dump(model, buf)
    return buf.getvalue()


def _import(tmp_path: Path, dataset: Any, uri: str, task: str = "classification") -> dict[str, Any]:
    out = {
        "model": artifact(dsl.Model, tmp_path / "model.joblib"),
        "train_set": artifact(dsl.Dataset, tmp_path / "train.parquet"),
        "test_set": artifact(dsl.Dataset, tmp_path / "test.parquet"),
        "search_report": artifact(dsl.Artifact, tmp_path / "search.json"),
    }
    pace_components.import_model.python_func(
        dataset=dataset,
        model_uri=uri,
        model_format="sklearn",
        target="target",
        task=task,
        test_size=0.25,
        seed=1,
        group_by="",
        **out,
    )
    return out


def _wine_model(columns: list[str] | None = None) -> Any:
    wine = load_wine(as_frame=True).frame
    X = wine.drop(columns="target")
    if columns is not None:
        X = X[columns]
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, wine["target"])


@pytest.mark.usefixtures("step_env")
def test_a_fitting_model_is_imported_byte_for_byte_with_its_hash(
    tmp_path: Path, store: ObjectStore, wine_dataset: Any
) -> None:
    data = _dump(_wine_model())
    # A folder URI names its model.joblib (Seldon's SKLearn server layout).
    store.put("incoming/wine-lr/model.joblib", data)
    out = _import(tmp_path, wine_dataset, store.uri("incoming/wine-lr/"))

    assert Path(out["model"].path).read_bytes() == data
    report = json.loads(Path(out["search_report"].path).read_text())
    source = report["chosen"]["source"]
    assert source["kind"] == "imported"
    assert source["sha256"] == hashlib.sha256(data).hexdigest()
    assert source["file"] == store.uri("incoming/wine-lr/model.joblib")
    assert source["class"] == "sklearn.pipeline.Pipeline"
    assert report["chosen"]["algorithm"] == "imported"
    train, test = (pd.read_parquet(out[k].path) for k in ("train_set", "test_set"))
    assert len(test) == 45  # train_model's split
    assert len(train) + len(test) == 178


@pytest.mark.usefixtures("step_env")
def test_what_cannot_serve_the_dataset_is_refused_saying_why(
    tmp_path: Path, store: ObjectStore, wine_dataset: Any
) -> None:
    cases = {
        "not-a-pickle.joblib": (
            b"these are not the bytes of a model",
            r"not-a-pickle\.joblib does not load with joblib: \w+Error",
        ),
        "five-features.joblib": (
            _dump(_wine_model(["alcohol", "malic_acid", "ash", "magnesium", "hue"])),
            r"the dataset has alcalinity_of_ash, .* which it was not fitted on",
        ),
        "regressor.joblib": (
            _dump(LinearRegression().fit(load_wine().data, load_wine().target)),
            r"sklearn\.linear_model\._base\.LinearRegression has no predict_proba\(\)",
        ),
    }
    for key, (data, why) in cases.items():
        uri = store.put(f"incoming/{key}", data)
        with pytest.raises(ModelImportError, match=r"^spec\.model\.uri s3://.*: " + why):
            _import(tmp_path, wine_dataset, uri)
    # A file that is not there: the store's own error, which names the key.
    with pytest.raises(Exception, match=r"NoSuchKey|does not exist|not found"):
        _import(tmp_path, wine_dataset, store.uri("incoming/absent.joblib"))

"""Batch scoring (`pace.batch_scoring`, the score_batch step's body) against a real MinIO:
new files scored once, predictions beside the input's keys under the output prefix with the
version and run, rows in the inference log where the drift check reads them, failures named
by file and left for the next run."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import joblib
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import pace_components
from pace import batch_scoring
from pace.adapters import inference_log
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.core import batch, datasets, inference_records
from pace.core.pipeline_plan import BatchRequest

pytestmark = pytest.mark.integration


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


@pytest.fixture
def wine_job(store: ObjectStore) -> BatchRequest:
    frame = datasets.load_builtin("wine")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(frame.drop(columns="target"), frame["target"])
    buf = io.BytesIO()
    joblib.dump(model, buf)
    model_uri = store.put("models/ns/wine/u/versions/v3/model.joblib", buf.getvalue())
    return BatchRequest(
        namespace="ns",
        model_name="wine",
        model_uid="u" * 36,
        run_name="wine-batch-1",
        version="v3",
        model_uri=model_uri,
        input_uri=store.uri("drops/wine/"),
        output_uri=store.uri("scored/wine/"),
        task="classification",
        target="target",
        features=(),
    )


def test_new_files_are_scored_once_and_failures_named(
    store: ObjectStore, s3_settings: S3Settings, wine_job: BatchRequest
) -> None:
    frame = datasets.load_builtin("wine")
    store.put("drops/wine/2026/11/27.csv", _csv(frame.iloc[:40].drop(columns="target")))
    parquet = io.BytesIO()
    frame.iloc[40:100].to_parquet(parquet, index=False)  # with the target: kept, not used
    store.put("drops/wine/2026/11/28.parquet", parquet.getvalue())
    store.put("drops/wine/broken.csv", _csv(frame.iloc[:5].drop(columns=["target", "hue"])))
    store.put("drops/wine/README.txt", b"not a data file")

    report = batch_scoring.score(wine_job, s3_settings)

    assert report["filesScored"] == 2
    assert report["rowsScored"] == 100
    assert report["filesSkipped"] == 0
    [failure] = report["failures"]
    assert failure["file"] == store.uri("drops/wine/broken.csv")
    assert "missing feature column(s) hue" in failure["message"]
    out = pd.read_parquet(io.BytesIO(store.get("scored/wine/2026/11/27.predictions.parquet")))
    assert len(out) == 40
    assert set(out["_version"]) == {"v3"}
    assert set(out["_run"]) == {"wine-batch-1"}
    assert {"prediction", "proba_0", "proba_1", "proba_2"} <= set(out.columns)
    assert (out["prediction"] == frame.iloc[:40]["target"]).mean() > 0.9
    kept = pd.read_parquet(io.BytesIO(store.get("scored/wine/2026/11/28.predictions.parquet")))
    assert "target" in kept.columns
    assert not store.exists("scored/wine/broken.predictions.parquet")
    saved = store.get_json(batch.report_key("ns", "wine", wine_job.model_uid, "wine-batch-1"))
    assert saved["rowsScored"] == 100

    # The scored rows are in the inference log (predictor "batch"), where the drift check and
    # the recent-data reader find them.
    prefix = inference_records.model_prefix("ns", "wine")
    keys = inference_log.batches_since(store, prefix, "requests", since_ms=0)
    assert keys
    assert all("/batch/requests/" in k for k in keys)
    logged = pd.concat(pd.read_parquet(io.BytesIO(store.get(k))) for k in keys)
    assert len(logged) == 100
    assert set(logged["_version"]) == {"v3"}
    assert "alcohol" in logged.columns
    responses = inference_log.batches_since(store, prefix, "responses", since_ms=0)
    answered = pd.concat(pd.read_parquet(io.BytesIO(store.get(k))) for k in responses)
    assert set(answered["_predicted"]) <= {"0", "1", "2"}
    assert len(json.loads(answered["prediction"].iloc[0])) == 3

    # The next run scores only the new file; the broken one is tried again.
    store.put("drops/wine/2026/11/29.csv", _csv(frame.iloc[100:].drop(columns="target")))
    again = batch_scoring.score(dataclasses.replace(wine_job, run_name="wine-batch-2"), s3_settings)
    assert again["filesScored"] == 1
    assert again["rowsScored"] == len(frame) - 100
    assert again["filesSkipped"] == 2
    assert [f["file"] for f in again["failures"]] == [store.uri("drops/wine/broken.csv")]
    assert store.exists("scored/wine/2026/11/29.predictions.parquet")


def test_the_step_returns_its_report_uri(
    store: ObjectStore,
    s3_settings: S3Settings,
    wine_job: BatchRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in s3_settings.to_env().items():
        monkeypatch.setenv(key, value)
    store.put("drops/wine/a.csv", _csv(datasets.load_builtin("wine").drop(columns="target")))
    args: dict[str, Any] = {
        "namespace": "ns",
        "model_name": "wine",
        "model_uid": wine_job.model_uid,
        "run_name": "wine-batch-7",
        "version": "v3",
        "model_uri": wine_job.model_uri,
        "input_uri": wine_job.input_uri,
        "output_uri": wine_job.output_uri,
        "task": "classification",
        "target": "target",
        "features": [],
    }
    uri = pace_components.score_batch.python_func(**args)
    assert uri == store.uri(batch.report_key("ns", "wine", wine_job.model_uid, "wine-batch-7"))
    assert store.get_json(uri.split("/", 3)[3])["rowsScored"] == 178

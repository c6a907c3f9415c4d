"""The load_data step with `dataset.recent` against a real MinIO: logged predictions joined
with their labels (sent through the real sink as Seldon's executor and a labeller send them)
are appended to the base data by position, within the window and before the run's cut-off;
labelled files under a prefix replace it; too few rows train on the base alone."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kfp import dsl
from sklearn.datasets import load_wine

import pace_components
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.core import datasets
from pace.inference_sink import InferenceSink
from pace.localstack import processes
from tests.components.test_steps import artifact

ROWS = load_wine().data
TRUTH = load_wine().target


def load(
    tmp_path: Path, recent: dict[str, Any], *, until: float, namespace: str = "ns"
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    dataset = artifact(dsl.Dataset, tmp_path / "dataset.parquet")
    recent_rows = artifact(dsl.Dataset, tmp_path / "recent.parquet")
    pace_components.load_data.python_func(
        dataset_uri="sklearn://wine",
        target="target",
        features=[],
        group_by="",
        recent=recent,
        namespace=namespace,
        model_name="wine",
        recent_until=until,
        dataset=dataset,
        recent_rows=recent_rows,
    )
    return (
        pd.read_parquet(dataset.path),
        pd.read_parquet(recent_rows.path),
        dict(dataset.metadata),
    )


@pytest.fixture
def s3_env(s3_settings: S3Settings, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    for key, value in s3_settings.to_env().items():
        monkeypatch.setenv(key, value)
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    return store


async def test_logged_predictions_with_labels_are_appended_by_position(
    s3_env: ObjectStore, tmp_path: Path
) -> None:
    sink = InferenceSink(s3_env, flush_seconds=3600)
    port = processes.free_port()
    runner = await sink.start("127.0.0.1", port)
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for i in range(40):  # positional rows, as SKLEARN_SERVER receives them
            headers = {
                "Ce-Id": f"e{i}",
                "Ce-Requestid": f"p{i}",
                "Ce-Type": "io.seldon.serving.inference.request",
                "Ce-Namespace": "ns",
                "Ce-Inferenceservicename": "wine",
                "Ce-Endpoint": "main",
            }
            body = {"data": {"ndarray": [(ROWS[i] * 1.5).tolist()]}}
            async with http.post(
                f"http://127.0.0.1:{port}/versions/v1", data=json.dumps(body), headers=headers
            ) as resp:
                assert resp.status == 200
        labels = [{"id": f"p{i}", "truth": int(TRUTH[i])} for i in range(30)]
        labels.append({"id": "p30", "truth": "not a class"})  # left out, counted
        async with http.post(
            f"http://127.0.0.1:{port}/labels/ns/wine", json={"labels": labels}
        ) as resp:
            assert resp.status == 200
    await sink.close(runner)
    cut_off = time.time()

    frame, recent, meta = load(
        tmp_path,
        {"source": "inference-log", "window": {"duration": "1h"}, "mode": "append", "minRows": 10},
        until=cut_off,
    )
    assert len(frame) == 178 + 30
    assert len(recent) == 30
    features = [c for c in frame.columns if c != "target"]
    got = recent.sort_values(features[0]).reset_index(drop=True)
    want = pd.DataFrame(ROWS[:30] * 1.5, columns=features).assign(target=TRUTH[:30])
    want = want.sort_values(features[0]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert recent["target"].dtype == frame["target"].dtype
    assert (meta["base_rows"], meta["recent_rows"], meta["recent_dropped"]) == (178, 30, 1)
    assert meta["data_note"] == "trained on 178 base rows and 30 recent rows (mode append)"
    assert meta["data_hash"] != meta["base_hash"]

    # The newest 5 labelled rows only; and a cut-off before anything was logged: none.
    _, newest, _ = load(tmp_path, {"window": {"rows": 5}, "minRows": 1}, until=cut_off)
    assert len(newest) == 5
    frame, none, meta = load(
        tmp_path, {"window": {"duration": "1h"}, "minRows": 10}, until=cut_off - 3600
    )
    assert (len(frame), len(none), meta["recent_found"]) == (178, 0, 0)
    assert meta["data_note"] == (
        "only 0 labelled rows in spec.dataset.recent.window, fewer than "
        "spec.dataset.recent.minRows (10): trained on the base data alone (178 rows)"
    )


def test_labelled_files_under_a_prefix_replace_the_base(
    s3_env: ObjectStore, tmp_path: Path
) -> None:
    wine = datasets.load_builtin("wine")  # the base data's column names
    for n, part in enumerate((wine.iloc[:50], wine.iloc[50:80])):
        buffer = io.BytesIO()
        part.to_parquet(buffer, index=False)
        s3_env.put(f"fresh-{tmp_path.name}/part-{n}.parquet", buffer.getvalue())
    s3_env.put(f"fresh-{tmp_path.name}/notes.txt", b"ignored")
    uri = f"s3://{s3_env.settings.bucket}/fresh-{tmp_path.name}/"
    frame, recent, meta = load(
        tmp_path, {"source": uri, "mode": "replace", "minRows": 10}, until=time.time() + 5
    )
    assert len(frame) == len(recent) == 80
    assert meta["base_rows"] == 0
    assert meta["data_note"] == "trained on 80 recent rows alone (mode replace)"
    bad = f"fresh-bad-{tmp_path.name}/x.csv"
    s3_env.put(bad, b"a,b\n1,2\n")
    # Unusable recent rows do not fail the run: it trains on the base data and says why.
    frame, recent, meta = load(
        tmp_path,
        {"source": f"s3://{s3_env.settings.bucket}/fresh-bad-{tmp_path.name}/", "minRows": 1},
        until=time.time() + 5,
    )
    assert (len(frame), len(recent), meta["recent_rows"]) == (178, 0, 0)
    assert meta["data_note"].startswith("recent rows not used (s3://")
    assert "lacks column(s)" in meta["data_note"]

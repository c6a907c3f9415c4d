"""Live quality: join + metrics for 100k and 1M logged predictions with labels, end to end
from MinIO (list, parallel fetch, Parquet decode, newest label, join, accuracy / F1 / log
loss, per version) against a bare pandas merge + sklearn accuracy on in-memory frames of the
same data, in the same run; peak memory (tracemalloc) of both. The two accuracies must agree.
Target: end to end within 2x the bare figure. Figures only; no timed asserts."""

from __future__ import annotations

import io
import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from pace.adapters import inference_log
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.core import live_quality
from tests.bench.results import record

BATCH_ROWS = 50_000  # the sink's batches are smaller; fewer, larger objects keep setup short
CLASSES = ("0", "1", "2")


def logged(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Responses as the sink writes them (two versions) and labels for 80 % of them."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(len(CLASSES)), size=rows)
    ids = np.char.add("p", np.arange(rows).astype(str))
    responses = pd.DataFrame(
        {
            "_id": ids,
            "_index": 0,
            "_ts": np.linspace(0, 1000, rows),
            "_version": np.where(np.arange(rows) % 5 == 0, "v2", "v1"),
            "_predicted": np.array(CLASSES)[proba.argmax(axis=1)],
            **{f"_p:{c}": proba[:, i] for i, c in enumerate(CLASSES)},
        }
    )
    picked = rng.permutation(rows)[: int(rows * 0.8)]
    truth = np.where(
        rng.uniform(size=picked.size) < 0.7,
        responses["_predicted"].to_numpy()[picked],
        np.array(CLASSES)[rng.integers(0, 3, picked.size)],
    )
    labels = pd.DataFrame(
        {"_id": ids[picked], "_index": 0, "_ts": 2000.0, "_source": "api", "truth": truth}
    )
    return responses, labels


def upload(store: ObjectStore, prefix: str, frame: pd.DataFrame, kind: str) -> None:
    for n, start in enumerate(range(0, len(frame), BATCH_ROWS)):
        buf = io.BytesIO()
        frame.iloc[start : start + BATCH_ROWS].to_parquet(buf, index=False)
        where = "labels" if kind == "labels" else "main/responses"
        key = f"{prefix}{where}/date=2026-01-01/{1_700_000_000_000 + n:013d}-bench.parquet"
        store.put(key, buf.getvalue())


@pytest.fixture(scope="module")
def figures() -> dict[str, float]:
    out: dict[str, float] = {}
    yield out
    record("live_quality", out)


@pytest.mark.parametrize("rows", [100_000, 1_000_000])
def test_join_and_metrics_throughput(
    rows: int, s3_settings: S3Settings, figures: dict[str, float]
) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    responses, labels = logged(rows, seed=rows)
    model = f"m{rows}"
    upload(store, f"inference-logs/bench/{model}/", responses, "responses")
    upload(store, f"inference-logs/bench/{model}/", labels, "labels")
    live_quality.measure("classification", responses.head(10), labels.head(10), now=0)

    tracemalloc.start()
    started = time.perf_counter()
    read_responses, read_labels = inference_log.window(store, "bench", model, since_ms=0)
    outcome = live_quality.measure("classification", read_responses, read_labels, now=3000.0)
    end_to_end = time.perf_counter() - started
    _, peak_e2e = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    tracemalloc.start()
    started = time.perf_counter()
    merged = responses.merge(labels, on=["_id", "_index"], how="inner")
    bare = {
        version: accuracy_score(part["truth"], part["_predicted"])
        for version, part in merged.groupby("_version")
    }
    bare_seconds = time.perf_counter() - started
    _, peak_bare = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    for version, value in bare.items():
        assert outcome.versions[str(version)].metrics["accuracy"] == pytest.approx(value)
    assert sum(v.rows for v in outcome.versions.values()) == len(labels)
    figures |= {
        f"rows_{rows}_end_to_end_seconds": round(end_to_end, 3),
        f"rows_{rows}_bare_seconds": round(bare_seconds, 3),
        f"rows_{rows}_ratio": round(end_to_end / bare_seconds, 2),
        f"rows_{rows}_end_to_end_peak_mb": round(peak_e2e / 2**20, 1),
        f"rows_{rows}_bare_peak_mb": round(peak_bare / 2**20, 1),
    }

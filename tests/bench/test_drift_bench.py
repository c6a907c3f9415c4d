"""Drift-check throughput (rows x features per second) and peak memory for 100k and 1M rows x
50 features: end to end (window read from MinIO, detection, gauge export) and the bare
alibi-detect KSDrift call on the same data, in the same run. p-values must agree.
Figures only; no timed asserts."""

from __future__ import annotations

import io
import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from pace.adapters import metrics
from pace.adapters.object_store import ObjectStore, S3Settings
from pace.api.drift_monitor import DetectorSpec
from pace.core import drift
from pace.handlers.drift_check import read_window
from tests.bench.results import record

FEATURES = 50
CHUNK_ROWS = 100_000


def frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(rows, FEATURES)).astype("float32")
    data[:, :5] += shift
    return pd.DataFrame(data, columns=[f"x{i}" for i in range(FEATURES)])


@pytest.fixture(scope="module")
def figures() -> dict[str, float]:
    out: dict[str, float] = {}
    yield out
    record("drift", out)


@pytest.mark.parametrize("rows", [100_000, 1_000_000])
def test_drift_check_throughput(
    rows: int, s3_settings: S3Settings, figures: dict[str, float]
) -> None:
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    reference = frame(min(rows, 100_000), seed=1)
    live = frame(rows, seed=2, shift=0.05)
    prefix = f"inference-logs/bench/m{rows}/main/requests/date=2026-01-01/"
    for n, start in enumerate(range(0, rows, CHUNK_ROWS)):
        chunk = live.iloc[start : start + CHUNK_ROWS].assign(_id="x", _index=0, _ts=float(n))
        buf = io.BytesIO()
        chunk.to_parquet(buf, index=False)
        store.put(f"{prefix}{1_700_000_000_000 + n:013d}-bench.parquet", buf.getvalue())
    spec = DetectorSpec(type="ks", p_value=0.05)
    drift.detect(reference.head(100), live.head(100), spec)  # imports outside the timing

    tracemalloc.start()
    started = time.perf_counter()
    window = read_window(store, f"inference-logs/bench/m{rows}/", rows=rows, since_ms=None)
    report = drift.detect(reference, window, spec)
    for f in report.features:
        metrics.DRIFT_P_VALUE.labels(namespace="bench", monitor=str(rows), feature=f.name).set(
            f.p_value
        )
    end_to_end = time.perf_counter() - started
    _, peak_e2e = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    from alibi_detect.cd import KSDrift

    tracemalloc.start()
    started = time.perf_counter()
    bare = KSDrift(reference.to_numpy(), p_val=0.05).predict(live.to_numpy(), drift_type="batch")[
        "data"
    ]
    bare_seconds = time.perf_counter() - started
    _, peak_bare = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert len(window) == rows
    ours = np.array([f.p_value for f in report.features])
    assert np.allclose(ours, bare["p_val"], rtol=1e-6, atol=1e-12)
    cells = rows * FEATURES
    key = f"{rows // 1000}k"
    figures[f"{key}_end_to_end_seconds"] = round(end_to_end, 2)
    figures[f"{key}_end_to_end_cells_per_second"] = round(cells / end_to_end)
    figures[f"{key}_bare_ksdrift_seconds"] = round(bare_seconds, 2)
    figures[f"{key}_bare_cells_per_second"] = round(cells / bare_seconds)
    figures[f"{key}_end_to_end_over_bare"] = round(end_to_end / bare_seconds, 2)
    figures[f"{key}_peak_python_mib_end_to_end"] = round(peak_e2e / 2**20, 1)
    figures[f"{key}_peak_python_mib_bare"] = round(peak_bare / 2**20, 1)
    figures[f"{key}_drift_detected"] = float(report.drift)

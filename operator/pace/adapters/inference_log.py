"""The inference log read back from the object store: a model's logged responses and labels
since a time, as DataFrames (what `pace.core.live_quality` joins).

Batches are listed under the model's prefix and chosen by the epoch milliseconds in their
keys (`pace.core.inference_records.object_key`); they are fetched in parallel.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pace.adapters.object_store import ObjectStore
from pace.core import inference_records

Kind = Literal["requests", "responses", "labels"]
FETCHERS = 8


def batch_keys(keys: list[str], kind: Kind, *, since_ms: int) -> list[str]:
    """The batches of one kind written at or after ``since_ms``, oldest first."""
    marker = "/labels/" if kind == "labels" else f"/{kind}/"
    chosen = [
        k
        for k in keys
        if marker in k and k.endswith(".parquet") and inference_records.batch_millis(k) >= since_ms
    ]
    return sorted(chosen, key=inference_records.batch_millis)


def read(store: ObjectStore, keys: list[str]) -> Any:
    """The rows of these batches in one DataFrame (empty when none): fetched and decoded in
    parallel as Arrow tables, concatenated (columns one batch lacks are null there), turned
    into pandas once."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not keys:
        return pd.DataFrame()

    def fetch(key: str) -> Any:
        return pq.read_table(io.BytesIO(store.get(key)))

    with ThreadPoolExecutor(max_workers=FETCHERS) as pool:
        tables = list(pool.map(fetch, keys))
    return pa.concat_tables(tables, promote_options="permissive").to_pandas()


def window(store: ObjectStore, namespace: str, model: str, *, since_ms: int) -> tuple[Any, Any]:
    """A model's logged responses and its labels written since ``since_ms``."""
    keys = store.list(inference_records.model_prefix(namespace, model))
    return (
        read(store, batch_keys(keys, "responses", since_ms=since_ms)),
        read(store, batch_keys(keys, "labels", since_ms=since_ms)),
    )

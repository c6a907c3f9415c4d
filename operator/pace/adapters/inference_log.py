"""The inference log in the object store: a model's logged requests, responses and labels
read back as DataFrames (what `pace.core.live_quality` joins and the drift check reads), and
its expiry.

Batches sit in day partitions (``…/<predictor>/<kind>s/date=YYYY-MM-DD/<millis>-<id>.parquet``,
`pace.core.inference_records.object_key`). Reads walk the folders one level at a time and list
only the day partitions a window reaches, then choose batches by the epoch milliseconds in
their keys and fetch them in parallel; expiry deletes whole partitions older than the cut-off
day and the older batches of that day.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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


@dataclass
class Partitions:
    """What a walk found: day → partition folders (one per predictor and kind), and batches
    lying outside any day partition."""

    days: dict[str, list[str]] = field(default_factory=dict)
    loose: list[str] = field(default_factory=list)


def partitions(store: ObjectStore, prefix: str, kind: Kind | None) -> Partitions:
    """The day partitions of ``kind`` (None: every kind) under a prefix, found by listing
    folders one level at a time; nothing inside a partition is listed."""
    found = Partitions()
    marker = None if kind is None else f"/{kind}/"
    pending = [prefix]
    while pending:
        folder = pending.pop()
        for entry in store.list(folder, recursive=False):
            if not entry.endswith("/"):
                if entry.endswith(".parquet") and (marker is None or marker in entry):
                    found.loose.append(entry)
                continue
            day = inference_records.partition_day(entry)
            if day is None:
                if inference_records.may_hold(entry, kind):
                    pending.append(entry)
            elif marker is None or marker in entry:
                found.days.setdefault(day, []).append(entry)
    return found


def batches_since(
    store: ObjectStore,
    prefix: str,
    kind: Kind,
    *,
    since_ms: int,
    found: Partitions | None = None,
) -> list[str]:
    """The batches of one kind under a prefix written at or after ``since_ms``, oldest first,
    listing only the partitions of that day and later. ``found``: a walk of every kind
    already made (a reader of two kinds walks the folders once)."""
    found = found if found is not None else partitions(store, prefix, kind)
    marker = f"/{kind}/"
    first_day = inference_records.day_of(since_ms)
    keys = [k for k in found.loose if marker in k]
    for day, folders in found.days.items():
        if day >= first_day:
            for folder in folders:
                if marker in folder:
                    keys.extend(store.list(folder))
    return batch_keys(keys, kind, since_ms=since_ms)


def newest_batches(store: ObjectStore, prefix: str, kind: Kind) -> Iterator[str]:
    """The batches of one kind under a prefix, newest first; each day partition is listed
    only when the one after it has been used up."""
    found = partitions(store, prefix, kind)
    loose: dict[str, list[str]] = {}
    for key in found.loose:
        loose.setdefault(inference_records.day_of(inference_records.batch_millis(key)), []).append(
            key
        )
    for day in sorted(found.days.keys() | loose.keys(), reverse=True):
        keys = list(loose.get(day, ()))
        for folder in found.days.get(day, ()):
            keys.extend(store.list(folder))
        yield from sorted(
            batch_keys(keys, kind, since_ms=0), key=inference_records.batch_millis, reverse=True
        )


def expire(store: ObjectStore, prefix: str, *, before_ms: int) -> int:
    """Delete every batch under a prefix written before ``before_ms``: the partitions of
    earlier days whole, the older batches of that day one by one; how many were deleted."""
    found = partitions(store, prefix, None)
    cut_day = inference_records.day_of(before_ms)
    doomed = [k for k in found.loose if 0 < inference_records.batch_millis(k) < before_ms]
    for day, folders in found.days.items():
        if day > cut_day:
            continue
        for folder in folders:
            keys = store.list(folder)
            if day == cut_day:
                keys = [k for k in keys if inference_records.batch_millis(k) < before_ms]
            doomed.extend(keys)
    return store.delete(doomed)


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


def read_newest(store: ObjectStore, prefix: str, kind: Kind, *, rows: int | None) -> Any:
    """At least the newest ``rows`` rows of one kind (every row when None), read batch by
    batch from the newest until there are enough, in one DataFrame."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables, count = [], 0
    for key in newest_batches(store, prefix, kind):
        table = pq.read_table(io.BytesIO(store.get(key)))
        tables.append(table)
        count += table.num_rows
        if rows is not None and count >= rows:
            break
    if not tables:
        return pd.DataFrame()
    return pa.concat_tables(tables[::-1], promote_options="permissive").to_pandas()


def window(store: ObjectStore, namespace: str, model: str, *, since_ms: int) -> tuple[Any, Any]:
    """A model's logged responses and its labels written since ``since_ms``."""
    prefix = inference_records.model_prefix(namespace, model)
    found = partitions(store, prefix, None)
    return (
        read(store, batches_since(store, prefix, "responses", since_ms=since_ms, found=found)),
        read(store, batches_since(store, prefix, "labels", since_ms=since_ms, found=found)),
    )

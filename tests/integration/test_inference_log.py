"""The inference log's partitioned reads and its expiry, against a real MinIO server.

Batches are written where the sink writes them (`inference_records.object_key`) on five days;
a recording store (the real one, with each list and get noted) shows which prefixes a read
listed and which batches it fetched.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from pace.adapters import inference_log
from pace.adapters.object_store import ObjectStore
from pace.core import inference_records
from pace.handlers import drift_check

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
DAYS = 5  # batches on 2026-03-06 … 2026-03-10


class Recording(ObjectStore):
    """The real store; remembers what it was asked to list and fetch."""

    def __init__(self, store: ObjectStore) -> None:
        super().__init__(store.settings)
        self.listed: list[tuple[str, bool]] = []
        self.fetched: list[str] = []

    def list(self, prefix: str, *, recursive: bool = True) -> list[str]:
        self.listed.append((prefix, recursive))
        return super().list(prefix, recursive=recursive)

    def get(self, key: str) -> bytes:
        self.fetched.append(key)
        return super().get(key)


def _put(store: ObjectStore, kind: str, at: datetime, rows: int, predictor: str = "main") -> str:
    stream = inference_records.Stream(namespace="ns", model="m", predictor=predictor, kind=kind)
    key = inference_records.object_key(stream, at=at)
    frame = pd.DataFrame({"x": range(rows), "_ts": [at.timestamp()] * rows})
    buf = io.BytesIO()
    frame.to_parquet(buf)
    store.put(key, buf.getvalue())
    return key


@pytest.fixture
def logged(store: ObjectStore) -> dict[str, Any]:
    """Per day at noon and at 18:00 (the last day: noon only): 10 request rows and a response
    from main and from canary, and a label batch."""
    keys: dict[str, list[str]] = {"request": [], "response": [], "label": []}
    for back in range(DAYS - 1, -1, -1):
        for hour in (0, 6) if back else (0,):
            at = NOW - timedelta(days=back) + timedelta(hours=hour)
            for predictor in ("main", "canary"):
                keys["request"].append(_put(store, "request", at, 10, predictor))
                keys["response"].append(_put(store, "response", at, 10, predictor))
            keys["label"].append(_put(store, "label", at, 5))
    return keys


def _days(keys: list[str]) -> set[str]:
    return {k.split("date=")[1][:10] for k in keys}


def test_a_window_lists_and_reads_only_the_partitions_it_reaches(
    store: ObjectStore, logged: dict[str, Any]
) -> None:
    spy = Recording(store)
    prefix = inference_records.model_prefix("ns", "m")
    since = NOW - timedelta(days=1, hours=-3)  # 2026-03-09 15:00

    found = inference_log.batches_since(
        spy, prefix, "responses", since_ms=int(since.timestamp() * 1000)
    )

    assert found == sorted(
        (
            k
            for k in logged["response"]
            if inference_records.batch_millis(k) >= since.timestamp() * 1000
        ),
        key=inference_records.batch_millis,
    )
    assert _days(found) == {"2026-03-09", "2026-03-10"}
    assert len(found) == 4
    # Nothing of an earlier day was listed; nothing was listed recursively but partitions.
    recursive = [p for p, deep in spy.listed if deep]
    assert _days(recursive) == {"2026-03-09", "2026-03-10"}
    assert all("/responses/date=" in p for p in recursive), recursive
    assert not any("/requests/" in p or "/labels/" in p for p, _ in spy.listed), spy.listed


def test_the_drift_window_by_rows_fetches_from_the_newest_batch_until_it_has_enough(
    store: ObjectStore, logged: dict[str, Any]
) -> None:
    spy = Recording(store)
    prefix = inference_records.model_prefix("ns", "m")

    window = drift_check.read_window(spy, prefix, rows=25, since_ms=None)

    assert list(window.columns) == ["x"]
    assert len(window) == 25
    # 10 rows a batch: the newest day's 2 batches (main, canary), then one of the day before's
    # 18:00 pair makes 30. Partitions of older days were never listed.
    assert len(spy.fetched) == 3
    assert _days(spy.fetched) == {"2026-03-10", "2026-03-09"}
    assert _days([p for p, deep in spy.listed if deep]) == {"2026-03-10", "2026-03-09"}


def test_expiry_deletes_what_is_older_than_the_cut_off_and_keeps_the_rest(
    store: ObjectStore, logged: dict[str, Any]
) -> None:
    everything = store.list("inference-logs/")
    cut = NOW - timedelta(days=2, hours=-3)  # 2026-03-08 15:00
    cut_ms = int(cut.timestamp() * 1000)

    removed = inference_log.expire(store, "inference-logs/ns/m/", before_ms=cut_ms)

    kept = store.list("inference-logs/")
    assert kept == sorted(k for k in everything if inference_records.batch_millis(k) >= cut_ms)
    # 5 batches at each time: 03-06 and 03-07 twice (whole partitions), 03-08 noon.
    assert removed == len(everything) - len(kept) == 25
    assert _days(kept) == {"2026-03-08", "2026-03-09", "2026-03-10"}
    # The kept batches still read back: 03-08 18:00, 03-09 twice, 03-10 noon.
    assert len(inference_log.read(store, [k for k in kept if "/labels/" in k])) == 4 * 5
    # Running it again deletes nothing more.
    assert inference_log.expire(store, "inference-logs/ns/m/", before_ms=cut_ms) == 0
    assert store.list("inference-logs/") == kept


def test_expiry_of_one_model_leaves_another_models_log_alone(store: ObjectStore) -> None:
    old = NOW - timedelta(days=30)
    mine = _put(store, "request", old, 3)
    other = mine.replace("/ns/m/", "/ns/m2/")
    store.put(other, store.get(mine))

    assert (
        inference_log.expire(store, "inference-logs/ns/m/", before_ms=int(NOW.timestamp() * 1000))
        == 1
    )
    assert store.list("inference-logs/") == [other]

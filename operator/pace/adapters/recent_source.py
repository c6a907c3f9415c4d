"""Reading the fresh labelled rows of `spec.dataset.recent` from the object store (used by
the load_data pipeline step); the choices are `pace.core.recent_data`'s.

``source: inference-log``: the model's logged requests joined with their labels, both
written up to the run's cut-off (``until``) and, for a ``duration`` window, predicted no
earlier than ``until - duration``. ``source: s3://bucket/prefix/``: every CSV/Parquet object
under the prefix (modified within the duration, for a ``duration`` window), which must carry
the features and the target.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pace.adapters import inference_log
from pace.adapters.object_store import ObjectStore, S3Settings, store_for
from pace.core import datasets, durations, inference_records, recent_data


def _window(recent: dict[str, Any], until: float) -> tuple[int | None, float | None]:
    window = recent.get("window") or {"duration": "24h"}
    rows = window.get("rows")
    since = until - durations.seconds(window["duration"]) if window.get("duration") else None
    return (int(rows) if rows else None), since


def from_inference_log(
    store: ObjectStore,
    *,
    namespace: str,
    model: str,
    features: list[str],
    target: str,
    target_dtype: Any,
    rows: int | None,
    since: float | None,
    until: float,
) -> tuple[Any, int]:
    """Logged inputs with their labels as training rows; and the labels of the wrong type."""
    import pandas as pd

    prefix = inference_records.model_prefix(namespace, model)
    since_ms = int(since * 1000) if since is not None else 0
    found = inference_log.partitions(store, prefix, None)
    requests = inference_log.read(
        store,
        inference_log.batches_since(store, prefix, "requests", since_ms=since_ms, found=found),
    )
    labels = inference_log.read(
        store, inference_log.batches_since(store, prefix, "labels", since_ms=since_ms, found=found)
    )
    if requests.empty or labels.empty:
        return pd.DataFrame(columns=[*features, target]), 0
    requests = recent_data.select_window(requests, rows=None, since=since, until=until)
    labels = labels[labels["_ts"] <= until]
    joined = recent_data.labelled_requests(requests, labels)
    usable, dropped = recent_data.to_training_rows(
        joined, features=features, target=target, target_dtype=target_dtype, keep_time=True
    )
    usable = recent_data.select_window(usable, rows=rows, since=None, until=until)
    return usable.drop(columns=["_ts"]).reset_index(drop=True), dropped


def from_prefix(
    settings: S3Settings,
    uri: str,
    *,
    features: list[str],
    target: str,
    rows: int | None,
    since: float | None,
    until: float,
) -> Any:
    """The labelled files under an s3:// prefix, oldest first, as training rows."""
    import pandas as pd

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    store = store_for(settings, bucket)
    after = datetime.fromtimestamp(since if since is not None else 0, tz=UTC)
    found = [
        (modified, key)
        for key, modified in store.list_modified_after(prefix, after)
        if key.endswith((".csv", ".parquet")) and modified.timestamp() <= until
    ]
    frames = []
    for _modified, key in sorted(found):
        frame = datasets.read_bytes(
            store.get(key), "parquet" if key.endswith(".parquet") else "csv"
        )
        missing = [c for c in [*features, target] if c not in frame.columns]
        if missing:
            raise recent_data.RecentDataError(
                f"s3://{bucket}/{key} lacks column(s) {', '.join(missing)}"
            )
        frames.append(frame[[*features, target]])
    if not frames:
        return pd.DataFrame(columns=[*features, target])
    joined = pd.concat(frames, ignore_index=True)
    return joined.tail(rows).reset_index(drop=True) if rows else joined


def combine(
    base: Any,
    recent: dict[str, Any],
    *,
    settings: S3Settings,
    namespace: str,
    model: str,
    target: str,
    group_by: str,
    until: float,
) -> recent_data.Combined:
    """The training frame: base data and the recent rows, as ``recent`` says."""
    features = [c for c in base.columns if c not in (target, group_by)]
    rows, since = _window(recent, until)
    source = recent.get("source", "inference-log")
    dropped = 0
    try:
        if source == "inference-log":
            fresh, dropped = from_inference_log(
                ObjectStore(settings),
                namespace=namespace,
                model=model,
                features=features,
                target=target,
                target_dtype=base[target].dtype,
                rows=rows,
                since=since,
                until=until,
            )
        else:
            fresh = from_prefix(
                settings,
                source,
                features=features,
                target=target,
                rows=rows,
                since=since,
                until=until,
            )
    except recent_data.RecentDataError as exc:  # the run still trains, on the base data
        note = f"recent rows not used ({exc}): trained on the base data alone ({len(base)} rows)"
        return recent_data.Combined(base, base.iloc[0:0], len(base), 0, 0, 0, note)
    if group_by:
        fresh = fresh.assign(**{group_by: "recent"})
    return recent_data.combine(
        base,
        fresh,
        mode=recent.get("mode", "append"),
        min_rows=int(recent.get("minRows", 20)),
        dropped=dropped,
    )

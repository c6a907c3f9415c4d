"""Fresh labelled data for a training run (pure): `spec.dataset.recent`.

The load_data step reads the base data (``dataset.uri``) and the recent rows — logged
predictions joined with their labels (``source: inference-log``), or labelled CSV/Parquet
files under an ``s3://`` prefix — and combines them:

- the window: the newest ``rows`` labelled rows, or those whose prediction (or file) is at
  most ``duration`` older than the run's cut-off time (fixed when the run was queued, so a
  resubmitted run reads the same window);
- inputs logged without names (positional rows, as Seldon's SKLEARN_SERVER receives them)
  are mapped to the base data's feature columns by position;
- the label text is turned back into the target's type; a label that cannot be is left out
  and counted;
- ``mode: append`` adds the recent rows to the base, ``replace`` trains on them alone; with
  fewer than ``minRows`` the run trains on the base alone and says so (``note``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class RecentDataError(ValueError):
    """The recent rows cannot be used; the message names why."""


@dataclass(frozen=True)
class Combined:
    """The training frame and what it is made of."""

    frame: Any
    recent: Any  # the recent rows trained on (empty when none)
    base_rows: int
    recent_rows: int  # recent rows trained on (0 when fewer than minRows)
    found_rows: int  # labelled rows found in the window
    dropped: int  # labels that could not be turned into the target's type
    note: str


def positional_columns(frame: Any) -> bool:
    """Whether the logged inputs carry no names (f0, f1, ...)."""
    names = [c for c in frame.columns if not str(c).startswith("_") and c != "truth"]
    return bool(names) and all(str(c) == f"f{i}" for i, c in enumerate(names))


def labelled_requests(requests: Any, labels: Any) -> Any:
    """Logged request rows with the newest label of each row as ``truth`` (inner join)."""
    ordered = labels.reset_index(drop=True).sort_values("_ts", kind="stable")
    newest = ordered.drop_duplicates(["_id", "_index"], keep="last")[["_id", "_index", "truth"]]
    inputs = requests.drop_duplicates(["_id", "_index"], keep="last")
    return inputs.merge(newest, on=["_id", "_index"], how="inner")


def to_training_rows(
    joined: Any, *, features: list[str], target: str, target_dtype: Any, keep_time: bool = False
) -> tuple[Any, int]:
    """The joined rows as the base data's columns (features, then the target; ``_ts`` too
    with ``keep_time``); the count of rows whose label is not of the target's type."""
    import pandas as pd

    frame = joined.copy()
    if positional_columns(frame):
        logged = [c for c in frame.columns if not str(c).startswith("_") and c != "truth"]
        if len(logged) != len(features):
            raise RecentDataError(
                f"logged inputs have {len(logged)} values, the data has {len(features)} "
                f"features ({', '.join(features)})"
            )
        frame = frame.rename(columns=dict(zip(logged, features, strict=True)))
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise RecentDataError(f"logged inputs lack feature(s) {', '.join(missing)}")
    truth = frame["truth"]
    if pd.api.types.is_numeric_dtype(target_dtype):
        converted = pd.to_numeric(truth, errors="coerce")
        ok = converted.notna()
        if pd.api.types.is_integer_dtype(target_dtype):
            ok &= converted.round() == converted
        values = converted[ok].astype(target_dtype)
    else:
        ok = truth.notna()
        values = truth[ok].astype(str)
    rows = frame.loc[ok, features].copy()
    rows[target] = values.to_numpy()
    if keep_time:  # for a window that counts usable rows only
        rows["_ts"] = frame.loc[ok, "_ts"].to_numpy()
    return rows.reset_index(drop=True), int((~ok).sum())


def select_window(frame: Any, *, rows: int | None, since: float | None, until: float) -> Any:
    """The rows of the window (``_ts`` in seconds): not after ``until``; then the newest
    ``rows``, or those at or after ``since``."""
    if frame.empty:
        return frame
    kept = frame[frame["_ts"] <= until]
    if since is not None:
        kept = kept[kept["_ts"] >= since]
    kept = kept.sort_values("_ts", kind="stable")
    if rows is not None:
        kept = kept.tail(rows)
    return kept


def combine(base: Any, recent: Any, *, mode: str, min_rows: int, dropped: int = 0) -> Combined:
    """The training frame of ``mode`` (append or replace) from base and recent rows."""
    import pandas as pd

    found = len(recent)
    if found < min_rows:
        note = (
            f"only {found} labelled rows in spec.dataset.recent.window, fewer than "
            f"spec.dataset.recent.minRows ({min_rows}): trained on the base data alone "
            f"({len(base)} rows)"
        )
        return Combined(base, base.iloc[0:0], len(base), 0, found, dropped, note)
    recent = recent[list(base.columns)].reset_index(drop=True)
    if mode == "replace":
        note = f"trained on {found} recent rows alone (mode replace)"
        return Combined(recent, recent, 0, found, found, dropped, note)
    frame = pd.concat([base, recent], ignore_index=True)
    note = f"trained on {len(base)} base rows and {found} recent rows (mode append)"
    return Combined(frame, recent, len(base), found, found, dropped, note)

"""Live quality per version: logged predictions joined with their labels (pure).

The join key is (``_id``, ``_index``): the prediction's puid and the row in its request (see
`pace.core.inference_records`). A row labelled twice keeps its newest label (by arrival
time ``_ts``; within one batch the last one) and is counted as a duplicate. A label that
matches no logged prediction of the window is *pending* while it is younger than the flush
grace (its prediction may not be written yet) and *unmatched* after it: reported, never
dropped (the label stays in the store).

Metrics per version, over the joined rows of the window:

- classification: ``accuracy`` (likeliest class == label), ``f1_macro``, ``log_loss`` (when
  the probabilities were logged: the probability given to the true class, clipped at 1e-15);
  the interval is Wilson's score interval of the accuracy.
- regression: ``mae`` and ``rmse``; the interval is the normal interval of the MAE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

EPS = 1e-15
Z95 = 1.959963984540054
PROBA = "_p:"


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval of one metric."""

    metric: str
    low: float
    high: float
    level: float = 0.95


@dataclass(frozen=True)
class VersionQuality:
    """One version's live metrics over the window."""

    version: str
    rows: int
    metrics: dict[str, float]
    interval: Interval | None


@dataclass(frozen=True)
class Outcome:
    """The measurement: per version, and what could not be joined."""

    versions: dict[str, VersionQuality]
    labels: int  # distinct labelled rows read
    duplicates: int  # labels given again for a row already labelled (the newest won)
    unmatched: int  # labels older than the grace with no logged prediction in the window
    pending: int  # younger labels with no prediction yet (it may still be flushed)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Any, z: float = Z95) -> tuple[float, float]:
    """Normal interval of a mean (the sample standard deviation; a point for one value)."""
    import numpy as np

    array = np.asarray(values, dtype=float)
    mean = float(array.mean())
    if array.size < 2:
        return mean, mean
    half = z * float(array.std(ddof=1)) / math.sqrt(array.size)
    return mean - half, mean + half


def newest_labels(labels: Any) -> tuple[Any, int]:
    """One label per (id, index), the newest; and how many were duplicates."""
    ordered = labels.reset_index(drop=True).sort_values("_ts", kind="stable")
    newest = ordered.drop_duplicates(["_id", "_index"], keep="last")
    return newest, len(labels) - len(newest)


def join(responses: Any, labels: Any, *, keep_unmatched: bool = False) -> Any:
    """Responses with the label of their row (only rows that have one). ``keep_unmatched``:
    labels without a logged response stay too, marked ``_merge == "right_only"``."""
    keep = [c for c in responses.columns if c in ("_id", "_index", "_version") or c[:1] != "_"]
    keep += [c for c in responses.columns if c in ("_predicted", "_value") or c.startswith(PROBA)]
    # A shadow answers the same request (same puid) as main: one row per version.
    unique = ["_id", "_index", "_version"] if "_version" in responses.columns else ["_id", "_index"]
    answered = responses[list(dict.fromkeys(keep))].drop_duplicates(unique)
    labelled = labels[["_id", "_index", "truth", "_ts"]].rename(columns={"_ts": "_labelled"})
    if not keep_unmatched:
        return answered.merge(labelled, on=["_id", "_index"], how="inner")
    return answered.merge(labelled, on=["_id", "_index"], how="right", indicator=True)


def labelled(responses: Any, labels: Any) -> Any:
    """The logged responses that have a label (the newest one), with every column the
    metrics read (``_version``, ``_predicted``, ``_value``, ``truth``) even when empty."""
    import pandas as pd

    columns = ["_id", "_index", "_version", "_predicted", "_value", "truth"]
    if responses.empty or labels.empty or "_version" not in responses.columns:
        return pd.DataFrame(columns=columns)
    newest, _ = newest_labels(labels)
    joined = join(responses, newest)
    for column in ("_predicted", "_value"):
        if column not in joined.columns:
            joined[column] = None
    return joined


def macro_f1(truth: Any, predicted: Any) -> float:
    """Macro F1 over the classes seen in either (as scikit-learn's ``f1_score(average=
    "macro", zero_division=0)``), from per-class counts: vectorised, for a million rows."""
    import pandas as pd

    classes = pd.Index(pd.unique(pd.concat([truth, predicted], ignore_index=True)))
    hits = truth.to_numpy() == predicted.to_numpy()
    tp = truth[hits].value_counts().reindex(classes, fill_value=0)
    true_counts = truth.value_counts().reindex(classes, fill_value=0)
    predicted_counts = predicted.value_counts().reindex(classes, fill_value=0)
    denominator = true_counts + predicted_counts  # 2tp + fp + fn
    scores = (2 * tp / denominator.where(denominator > 0)).fillna(0.0)
    return float(scores.mean())


def classification(frame: Any) -> tuple[dict[str, float], Interval | None, int]:
    """Accuracy, macro F1 and (with logged probabilities) log loss of joined rows."""
    import numpy as np
    import pandas as pd

    truth = frame["truth"].astype(str).reset_index(drop=True)
    predicted = frame["_predicted"].astype(str).reset_index(drop=True)
    hits = truth.to_numpy() == predicted.to_numpy()
    n = int(hits.size)
    metrics = {"accuracy": float(hits.mean()), "f1_macro": macro_f1(truth, predicted)}
    proba = [c for c in frame.columns if c.startswith(PROBA)]
    if proba:
        classes = [c[len(PROBA) :] for c in proba]
        matrix = frame[proba].to_numpy(dtype=float)
        index = pd.Categorical(truth, categories=classes).codes  # -1: not a class of the model
        given = np.where(index >= 0, matrix[np.arange(n), np.clip(index, 0, None)], 0.0)
        given = np.nan_to_num(given, nan=0.0)
        metrics["log_loss"] = float(-np.log(np.clip(given, EPS, 1.0)).mean())
    low, high = wilson(int(hits.sum()), n)
    return metrics, Interval("accuracy", low, high), n


def regression(frame: Any) -> tuple[dict[str, float], Interval | None, int]:
    """MAE and RMSE of joined rows whose label is a number (the rows counted)."""
    import numpy as np
    import pandas as pd

    truth = pd.to_numeric(frame["truth"], errors="coerce").to_numpy(dtype=float)
    value = frame["_value"].to_numpy(dtype=float)
    ok = np.isfinite(truth) & np.isfinite(value)
    errors = np.abs(truth[ok] - value[ok])
    if errors.size == 0:
        return {}, None, 0
    low, high = mean_interval(errors)
    metrics = {"mae": float(errors.mean()), "rmse": float(np.sqrt((errors**2).mean()))}
    return metrics, Interval("mae", low, high), int(errors.size)


def measure(
    task: str, responses: Any, labels: Any, *, now: float, grace_seconds: float = 60.0
) -> Outcome:
    """Live quality per version of the window's responses and labels (DataFrames as the sink
    writes them; either may be empty)."""
    if labels.empty:
        return Outcome({}, labels=0, duplicates=0, unmatched=0, pending=0)
    newest, duplicates = newest_labels(labels)
    if responses.empty or "_version" not in responses.columns:
        joined, loose = newest.iloc[0:0].assign(_version=""), newest["_ts"].astype(float)
    else:
        both = join(responses[responses["_version"].notna()], newest, keep_unmatched=True)
        matched = both["_merge"] == "both"
        joined = both[matched]
        loose = both.loc[~matched, "_labelled"].astype(float)
    pending = int((now - loose < grace_seconds).sum())
    score = classification if task == "classification" else regression
    versions: dict[str, VersionQuality] = {}
    for version, rows in joined.groupby("_version", sort=True):
        column = "_predicted" if task == "classification" else "_value"
        if column not in rows.columns or rows[column].isna().all():
            continue
        rows = rows[rows[column].notna()]
        metrics, interval, counted = score(rows)
        if metrics:
            versions[str(version)] = VersionQuality(str(version), counted, metrics, interval)
    return Outcome(
        versions,
        labels=len(newest),
        duplicates=duplicates,
        unmatched=len(loose) - pending,
        pending=pending,
    )

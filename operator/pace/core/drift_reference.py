"""The drift reference of a version: a bounded snapshot of its training inputs plus per-feature
statistics and which features are categorical (pure). DriftMonitor compares live data with it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pace.core import data_validation

if TYPE_CHECKING:
    import pandas as pd

MAX_REFERENCE_ROWS = 5000


def fit_reference(
    frame: pd.DataFrame,
    *,
    target: str,
    categorical: list[str] | None,
    seed: int,
    max_rows: int = MAX_REFERENCE_ROWS,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(snapshot of the input features, metadata with statistics and feature kinds)."""
    X = frame.drop(columns=[target])
    snapshot = X.sample(n=max_rows, random_state=seed) if len(X) > max_rows else X
    stats = data_validation.statistics(X)
    cats = sorted(
        set(categorical or []) | {n for n, s in stats.items() if s["kind"] == "categorical"}
    )
    meta = {
        "features": list(X.columns),
        "categorical": cats,
        "rows": len(snapshot),
        "statistics": stats,
    }
    return snapshot.reset_index(drop=True), meta

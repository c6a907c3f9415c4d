"""Train/test split and evaluation metrics for classification and regression (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

METRICS = {
    "classification": ("accuracy", "f1", "precision", "recall", "roc_auc", "log_loss"),
    "regression": ("r2", "rmse", "mae"),
}
"""What `compute_metrics` computes for each task: the names a quality gate can bound."""
FAIRNESS_METRICS = ("demographic_parity_difference", "accuracy_difference")
"""Computed besides, for classification, on the sensitive feature of qualityGates.fairness."""


def split(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    test_size: float,
    seed: int,
    group_by: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded hold-out split; stratified for classification, grouped when group_by is set."""
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    if group_by:
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train_idx, test_idx = next(splitter.split(frame, groups=frame[group_by]))
        return (
            frame.iloc[train_idx].reset_index(drop=True),
            frame.iloc[test_idx].reset_index(drop=True),
        )
    stratify = frame[target] if task == "classification" else None
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_for_training(
    frame: pd.DataFrame, *, target: str, task: str, test_size: float, seed: int, group_by: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`split` as a run does it: the group column ("" for none) is dropped from both sides
    once it has kept its groups apart (it is not a feature)."""
    train, test = split(
        frame, target=target, task=task, test_size=test_size, seed=seed, group_by=group_by or None
    )
    if group_by:
        train, test = train.drop(columns=[group_by]), test.drop(columns=[group_by])
    return train, test


def compute_metrics(
    model: Any, test: pd.DataFrame, *, target: str, task: str, sensitive_feature: str | None = None
) -> dict[str, float]:
    """Metrics of a fitted model on the test frame, rounded to 10 digits for stable output."""
    import numpy as np
    from sklearn import metrics as m

    X, y = test.drop(columns=[target]), test[target]
    pred = model.predict(X)
    out: dict[str, float] = {}
    if task == "classification":
        out["accuracy"] = m.accuracy_score(y, pred)
        out["f1"] = m.f1_score(y, pred, average="macro")
        out["precision"] = m.precision_score(y, pred, average="macro", zero_division=0)
        out["recall"] = m.recall_score(y, pred, average="macro", zero_division=0)
        if hasattr(model, "predict_proba"):
            proba = model.predict_proba(X)
            if proba.shape[1] == 2:
                out["roc_auc"] = m.roc_auc_score(y, proba[:, 1])
            else:
                out["roc_auc"] = m.roc_auc_score(y, proba, multi_class="ovr", labels=model.classes_)
            out["log_loss"] = m.log_loss(y, proba, labels=model.classes_)
    else:
        out["r2"] = m.r2_score(y, pred)
        out["rmse"] = float(np.sqrt(m.mean_squared_error(y, pred)))
        out["mae"] = m.mean_absolute_error(y, pred)
    if sensitive_feature and sensitive_feature in X.columns:
        out |= fairness(X[sensitive_feature], y, pred, task=task)
    return {k: round(float(v), 10) for k, v in out.items()}


def fairness(groups: Any, y: Any, pred: Any, *, task: str) -> dict[str, float]:
    """Largest gap between groups: positive-prediction rate and accuracy (classification)."""
    import pandas as pd

    df = pd.DataFrame(
        {
            "g": groups.astype(str).to_numpy(),
            "y": pd.Series(y).to_numpy(),
            "p": pd.Series(pred).to_numpy(),
        }
    )
    if task != "classification":
        return {}
    positive = df["p"].max()
    rates = df.groupby("g")["p"].apply(lambda s: float((s == positive).mean()))
    accuracy = df.groupby("g").apply(
        lambda d: float((d["y"] == d["p"]).mean()), include_groups=False
    )
    return {
        "demographic_parity_difference": float(rates.max() - rates.min()),
        "accuracy_difference": float(accuracy.max() - accuracy.min()),
    }


def primary_metric(task: str, gates_primary: str | None) -> str:
    """Metric compared with the serving version."""
    return gates_primary or ("accuracy" if task == "classification" else "r2")


LOWER_IS_BETTER = {
    "rmse",
    "mae",
    "log_loss",
    "demographic_parity_difference",
    "accuracy_difference",
}

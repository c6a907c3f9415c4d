"""Estimators by name, `auto` comparison and grid/random search with cross-validation (pure).

train_model calls `train`; everything is seeded, so the same data and spec give the same
model and the same metrics.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

AUTO_CANDIDATES = {
    "classification": ("logistic_regression", "random_forest", "gradient_boosting"),
    "regression": ("ridge", "random_forest", "gradient_boosting"),
}
SCORING = {"classification": "accuracy", "regression": "r2"}


class TrainingError(ValueError):
    """The algorithm or hyperparameters cannot be used; the message names them."""


def _factories(task: str) -> dict[str, Callable[..., Any]]:
    from sklearn import ensemble, linear_model, neighbors, svm, tree

    if task == "classification":
        return {
            "logistic_regression": lambda seed, **hp: linear_model.LogisticRegression(
                max_iter=2000, random_state=seed, **hp
            ),
            "random_forest": lambda seed, **hp: ensemble.RandomForestClassifier(
                random_state=seed, n_jobs=1, **hp
            ),
            "gradient_boosting": lambda seed, **hp: ensemble.GradientBoostingClassifier(
                random_state=seed, **hp
            ),
            "extra_trees": lambda seed, **hp: ensemble.ExtraTreesClassifier(
                random_state=seed, n_jobs=1, **hp
            ),
            "svm": lambda seed, **hp: svm.SVC(probability=True, random_state=seed, **hp),
            "knn": lambda seed, **hp: neighbors.KNeighborsClassifier(**hp),
            "decision_tree": lambda seed, **hp: tree.DecisionTreeClassifier(
                random_state=seed, **hp
            ),
        }
    return {
        "linear_regression": lambda seed, **hp: linear_model.LinearRegression(**hp),
        "ridge": lambda seed, **hp: linear_model.Ridge(random_state=seed, **hp),
        "lasso": lambda seed, **hp: linear_model.Lasso(random_state=seed, **hp),
        "random_forest": lambda seed, **hp: ensemble.RandomForestRegressor(
            random_state=seed, n_jobs=1, **hp
        ),
        "gradient_boosting": lambda seed, **hp: ensemble.GradientBoostingRegressor(
            random_state=seed, **hp
        ),
        "extra_trees": lambda seed, **hp: ensemble.ExtraTreesRegressor(
            random_state=seed, n_jobs=1, **hp
        ),
        "svm": lambda seed, **hp: svm.SVR(**hp),
        "knn": lambda seed, **hp: neighbors.KNeighborsRegressor(**hp),
        "decision_tree": lambda seed, **hp: tree.DecisionTreeRegressor(random_state=seed, **hp),
    }


def algorithms(task: str) -> list[str]:
    """Named algorithms available for a task."""
    return sorted(_factories(task))


def normalize(value: Any) -> Any:
    """Whole floats back to ints: pipeline parameters travel as JSON/protobuf doubles."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    return value


def build_pipeline(
    *,
    task: str,
    algorithm: str,
    hyperparameters: dict[str, Any],
    seed: int,
    numeric: list[int],
    categorical: list[int],
) -> Pipeline:
    """Preprocessing (scale numerics, one-hot categoricals) followed by the estimator.

    Columns are chosen by position, not name: Seldon's SKLEARN_SERVER (and PACE's serving
    runtime, which calls the model the same way) passes a plain numpy array without names,
    where a name-based selection fails. A DataFrame still works, and sklearn checks that its
    column names are the ones seen in training."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    factories = _factories(task)
    if algorithm not in factories:
        raise TrainingError(
            f"algorithm {algorithm!r} is not available for {task}; "
            f"choose one of {', '.join(sorted(factories))}"
        )
    try:
        estimator = factories[algorithm](seed, **normalize(hyperparameters))
    except TypeError as exc:
        raise TrainingError(f"bad hyperparameters for {algorithm}: {exc}") from None
    transformers: list[tuple[str, Any, list[int]]] = []
    if numeric:
        transformers.append(
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)
        )
    if categorical:
        transformers.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            )
        )
    return Pipeline([("prep", ColumnTransformer(transformers)), ("model", estimator)])


@dataclass
class TrainResult:
    """The fitted pipeline and how it was chosen."""

    model: Pipeline
    algorithm: str
    params: dict[str, Any]
    cv_score: float
    scoring: str
    search: list[dict[str, Any]] = field(default_factory=list)


def _space(search: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    strategy = search.get("strategy", "none")
    space: dict[str, list[Any]] = normalize(search.get("space") or {})
    if strategy == "none" or not space:
        return [{}]
    names = sorted(space)
    grid = [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(space[n] for n in names))
    ]
    if strategy == "grid":
        return grid
    rng = random.Random(seed)
    trials = min(int(search.get("trials", 10)), len(grid))
    return rng.sample(grid, trials)


def train(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    algorithm: str,
    hyperparameters: dict[str, Any],
    search: dict[str, Any],
    cv_folds: int,
    seed: int,
    categorical: list[str] | None = None,
) -> TrainResult:
    """Choose and fit a model: each candidate (and search point) scored by cross-validation."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    X, y = frame.drop(columns=[target]), frame[target]
    categorical = [c for c in (categorical or []) if c in X.columns]
    categorical += [c for c in X.columns if X[c].dtype == object and c not in categorical]
    numeric = [c for c in X.columns if c not in categorical]
    position = {name: i for i, name in enumerate(X.columns)}
    numeric_at = [position[c] for c in numeric]
    categorical_at = [position[c] for c in categorical]
    candidates = AUTO_CANDIDATES[task] if algorithm == "auto" else (algorithm,)
    scoring = SCORING[task]
    folds = (StratifiedKFold if task == "classification" else KFold)(
        n_splits=cv_folds, shuffle=True, random_state=seed
    )
    report: list[dict[str, Any]] = []
    best: tuple[float, str, dict[str, Any]] | None = None
    for name in candidates:
        base = {} if algorithm == "auto" else dict(hyperparameters)
        for point in _space(search, seed) if algorithm != "auto" else [{}]:
            params = {**base, **point}
            pipe = build_pipeline(
                task=task,
                algorithm=name,
                hyperparameters=params,
                seed=seed,
                numeric=numeric_at,
                categorical=categorical_at,
            )
            scores = cross_val_score(pipe, X, y, cv=folds, scoring=scoring)
            score = float(scores.mean())
            report.append(
                {"algorithm": name, "params": params, "score": score, "std": float(scores.std())}
            )
            if best is None or score > best[0]:
                best = (score, name, params)
    assert best is not None
    score, name, params = best
    model = build_pipeline(
        task=task,
        algorithm=name,
        hyperparameters=params,
        seed=seed,
        numeric=numeric_at,
        categorical=categorical_at,
    )
    model.fit(X, y)
    return TrainResult(
        model=model, algorithm=name, params=params, cv_score=score, scoring=scoring, search=report
    )

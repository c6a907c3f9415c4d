"""Estimators by name, `auto` comparison and grid/random search with cross-validation (pure).

train_model calls `train`; everything is seeded, so the same data and spec give the same
model and the same metrics.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pace.core import estimator_table

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


SEEDED = "random_state"
"""Set from spec.training.validation.seed for every estimator that takes it."""


@dataclass(frozen=True)
class Estimator:
    """How the operator builds one named algorithm's scikit-learn estimator."""

    make: Callable[..., Any]  # the scikit-learn class
    fixed: Mapping[str, Any] = field(default_factory=dict)  # set by the operator, not the spec
    defaults: Mapping[str, Any] = field(default_factory=dict)  # the operator's, overridable
    seeded: bool = True  # random_state from the seed

    def reserved(self) -> tuple[str, ...]:
        """Keyword arguments the operator sets itself: a hyperparameter cannot change them."""
        return (*self.fixed, *((SEEDED,) if self.seeded else ()))

    def build(self, seed: int, hyperparameters: Mapping[str, Any]) -> Any:
        taken = sorted(set(hyperparameters) & set(self.reserved()))
        if taken:
            raise TrainingError(f"hyperparameter(s) {', '.join(taken)} are set by the operator")
        seeded = {SEEDED: seed} if self.seeded else {}
        return self.make(**{**self.defaults, **hyperparameters}, **self.fixed, **seeded)


ONE_CORE = {"n_jobs": 1}  # each fit takes one core: the training queue counts runs, not cores


def estimators(task: str) -> dict[str, Estimator]:
    """The named algorithms available for a task."""
    from sklearn import ensemble, linear_model, neighbors, svm, tree

    if task == "classification":
        return {
            "logistic_regression": Estimator(
                linear_model.LogisticRegression, defaults={"max_iter": 2000}
            ),
            "random_forest": Estimator(ensemble.RandomForestClassifier, fixed=ONE_CORE),
            "gradient_boosting": Estimator(ensemble.GradientBoostingClassifier),
            "extra_trees": Estimator(ensemble.ExtraTreesClassifier, fixed=ONE_CORE),
            # probabilities: roc_auc, log_loss and the explanations need predict_proba
            "svm": Estimator(svm.SVC, fixed={"probability": True}),
            "knn": Estimator(neighbors.KNeighborsClassifier, seeded=False),
            "decision_tree": Estimator(tree.DecisionTreeClassifier),
        }
    return {
        "linear_regression": Estimator(linear_model.LinearRegression, seeded=False),
        "ridge": Estimator(linear_model.Ridge),
        "lasso": Estimator(linear_model.Lasso),
        "random_forest": Estimator(ensemble.RandomForestRegressor, fixed=ONE_CORE),
        "gradient_boosting": Estimator(ensemble.GradientBoostingRegressor),
        "extra_trees": Estimator(ensemble.ExtraTreesRegressor, fixed=ONE_CORE),
        "svm": Estimator(svm.SVR, seeded=False),
        "knn": Estimator(neighbors.KNeighborsRegressor, seeded=False),
        "decision_tree": Estimator(tree.DecisionTreeRegressor),
    }


def algorithms(task: str) -> list[str]:
    """Named algorithms available for a task (from `pace.core.estimator_table`: the operator
    checks specs without importing scikit-learn)."""
    return estimator_table.algorithms(task)


def parameters(task: str, algorithm: str) -> tuple[str, ...]:
    """The hyperparameters a spec may set for a named algorithm: its estimator's keyword
    arguments but those the operator sets itself."""
    return tuple(estimator_table.entry(task, algorithm)["params"])


def reserved(task: str, algorithm: str) -> tuple[str, ...]:
    """The estimator's keyword arguments the operator sets itself."""
    return tuple(estimator_table.entry(task, algorithm)["reserved"])


def parameter_problem(task: str, algorithm: str, name: str, value: Any) -> str | None:
    """Why scikit-learn's fit would refuse ``value`` for the parameter ``name`` (None: it would
    not, or the estimator declares no constraint on it). The estimator's own declared
    constraints decide, the check its fit makes first, so a value it takes is never refused
    here (`pace.core.estimator_table` holds them, generated from scikit-learn and tested
    against it)."""
    found = estimator_table.entry(task, algorithm)
    constraints = found["constraints"].get(name)
    if not constraints:
        return None
    return estimator_table.problem(
        constraints, name=name, value=normalize(value), caller=found["class"]
    )


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

    available = estimators(task)
    if algorithm not in available:
        raise TrainingError(
            f"algorithm {algorithm!r} is not available for {task}; "
            f"choose one of {', '.join(sorted(available))}"
        )
    try:
        estimator = available[algorithm].build(seed, normalize(hyperparameters))
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
    empty = [name for name in names if not space[name]]
    if empty:  # the product would be empty: nothing to fit
        raise TrainingError(f"spec.training.search.space.{empty[0]} lists no values to try")
    grid = [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(space[n] for n in names))
    ]
    if strategy == "grid":
        return grid
    rng = random.Random(seed)
    trials = min(int(search.get("trials", 10)), len(grid))
    return rng.sample(grid, trials)


def folds_problem(y: pd.Series, *, task: str, cv_folds: int) -> str | None:
    """Why the training split is too small for ``cv_folds`` cross-validation folds (None: it
    is not), in the words of the spec; the same bounds scikit-learn's splitters enforce."""
    if task == "classification":
        counts = y.value_counts()
        largest = int(counts.max()) if len(counts) else 0
        if largest < cv_folds:
            return (
                f"spec.training.validation.cvFolds: {cv_folds} folds need {cv_folds} rows of "
                f"at least one class in the training split; the largest class has {largest} "
                f"({len(y)} rows in all)"
            )
    elif len(y) < cv_folds:
        return (
            f"spec.training.validation.cvFolds: {cv_folds} folds need {cv_folds} rows; the "
            f"training split has {len(y)}"
        )
    return None


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
    problem = folds_problem(y, task=task, cv_folds=cv_folds)
    if problem is not None:
        raise TrainingError(problem)
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

"""A model trained elsewhere (``spec.model``): where its file is, and whether it fits the
dataset the way the serving runtime will call it (pure; the pipeline step loads it).

The serving runtime (Seldon's SKLearn server, or PACE's ``PaceModel`` microservice) hands the
model the request's rows as a plain array of the features in order and calls
``predict_proba`` for a classification, ``predict`` for a regression. An imported model is
checked against exactly that before it becomes a version.
"""

from __future__ import annotations

from typing import Any

from pace.core.seldon_manifest import served_method

FOLDER_FILE = "model.joblib"
"""The file a folder URI names: what Seldon's SKLearn server loads from a model folder."""


class ModelImportError(ValueError):
    """The imported model cannot become a version; the message says why, naming the field."""


def model_location(uri: str) -> tuple[str, str]:
    """(bucket, key) of the model file ``spec.model.uri`` names (a folder: its model.joblib)."""
    if not uri.startswith("s3://"):
        raise ModelImportError(f"spec.model.uri {uri!r}: expected s3://<bucket>/<key>")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ModelImportError(f"spec.model.uri {uri!r}: expected s3://<bucket>/<key>")
    if key.endswith("/"):
        key += FOLDER_FILE
    return bucket, key


def class_path(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def fit_problems(model: Any, *, features: list[str], task: str) -> list[str]:
    """Why ``model`` cannot serve rows of ``features`` for ``task`` (empty: it can, as far as
    its declared interface says; the step then calls it on real rows)."""
    problems = []
    for method in sorted({"predict", served_method(task)}):
        if not callable(getattr(model, method, None)):
            problems.append(
                f"{class_path(model)} has no {method}() (a {task} model is served with "
                f"{served_method(task)})"
            )
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        expected = [str(n) for n in names]
        missing = [f for f in expected if f not in features]
        extra = [f for f in features if f not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"it needs {', '.join(missing)}, which the dataset lacks")
            if extra:
                parts.append(f"the dataset has {', '.join(extra)}, which it was not fitted on")
            problems.append(f"its features do not match the dataset's: {'; '.join(parts)}")
        elif expected != list(features):
            problems.append(
                "it was fitted on the dataset's features in another order "
                f"({', '.join(expected)}); the runtime sends them in the dataset's order "
                f"({', '.join(features)})"
            )
    else:
        count = getattr(model, "n_features_in_", None)
        if isinstance(count, int) and count != len(features):
            problems.append(
                f"it takes {count} features; the dataset has {len(features)} "
                f"({', '.join(features)})"
            )
    classes = getattr(model, "classes_", None)
    if task == "regression" and classes is not None:
        problems.append(f"{class_path(model)} is a classifier; spec.task is regression")
    return problems


def refusal(uri: str, problems: list[str]) -> ModelImportError:
    return ModelImportError(f"spec.model.uri {uri}: " + "; ".join(problems))

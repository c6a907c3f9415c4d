"""Where an imported model's file is, and whether it fits the dataset as it will be served."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from pace.api.mlmodel import MLModelSpec
from pace.core import imported_model, lineage, spec_hash, uri_policy
from pace.core.imported_model import ModelImportError

FEATURES = ["a", "b", "c"]


def test_a_folder_names_its_model_joblib() -> None:
    assert imported_model.model_location("s3://in/wine/") == ("in", "wine/model.joblib")
    assert imported_model.model_location("s3://in/wine/m.pkl") == ("in", "wine/m.pkl")
    with pytest.raises(ModelImportError, match=r"spec\.model\.uri 'http://x/m\.joblib'"):
        imported_model.model_location("http://x/m.joblib")


def _frame_model(columns: list[str]) -> LogisticRegression:
    import pandas as pd

    X = pd.DataFrame(np.arange(12, dtype=float).reshape(4, 3), columns=columns)
    return LogisticRegression().fit(X, [0, 1, 0, 1])


def test_a_model_fitted_on_the_datasets_features_fits() -> None:
    assert (
        imported_model.fit_problems(
            _frame_model(FEATURES), features=FEATURES, task="classification"
        )
        == []
    )


def test_missing_extra_and_reordered_features_are_named() -> None:
    problems = imported_model.fit_problems(
        _frame_model(["a", "b", "z"]), features=FEATURES, task="classification"
    )
    assert problems == [
        "its features do not match the dataset's: it needs z, which the dataset lacks; "
        "the dataset has c, which it was not fitted on"
    ]
    reordered = imported_model.fit_problems(
        _frame_model(["c", "b", "a"]), features=FEATURES, task="classification"
    )
    assert "in another order (c, b, a)" in reordered[0]


def test_an_array_fitted_model_is_checked_by_its_feature_count() -> None:
    model = LogisticRegression().fit(np.zeros((4, 2)) + np.arange(4)[:, None], [0, 1, 0, 1])
    assert imported_model.fit_problems(model, features=FEATURES, task="classification") == [
        "it takes 2 features; the dataset has 3 (a, b, c)"
    ]


def test_the_served_method_must_exist_and_the_task_match() -> None:
    regressor = LinearRegression().fit(np.eye(3), [1.0, 2.0, 3.0])
    problems = imported_model.fit_problems(regressor, features=FEATURES, task="classification")
    assert problems == [
        "sklearn.linear_model._base.LinearRegression has no predict_proba() "
        "(a classification model is served with predict_proba)"
    ]
    classifier = _frame_model(FEATURES)
    assert imported_model.fit_problems(classifier, features=FEATURES, task="regression") == [
        "sklearn.linear_model._logistic.LogisticRegression is a classifier; spec.task is regression"
    ]
    assert imported_model.fit_problems(object(), features=FEATURES, task="regression") == [
        "builtins.object has no predict() (a regression model is served with predict)"
    ]


def _spec(**extra: object) -> MLModelSpec:
    return MLModelSpec.model_validate(
        {"task": "classification", "dataset": {"uri": "sklearn://wine", "target": "target"}} | extra
    )


def test_the_imported_file_is_part_of_the_training_spec_hash() -> None:
    plain = _spec()
    one = _spec(model={"uri": "s3://in/wine/v1/model.joblib"})
    two = _spec(model={"uri": "s3://in/wine/v2/model.joblib"})
    assert len({spec_hash.spec_hash(s) for s in (plain, one, two)}) == 3
    # A spec written before spec.model existed keeps its hash (no retrain on upgrade).
    assert "model" not in spec_hash.training_spec(plain)


def test_the_imported_uri_obeys_the_read_policy() -> None:
    policy = uri_policy.ReadPolicy(own_bucket="pace")
    spec = _spec(model={"uri": "s3://elsewhere/model.joblib"})
    problems = uri_policy.mlmodel_problems(spec, "ns", policy)
    assert [path for path, _ in problems] == ["spec.model.uri"]
    theirs = _spec(model={"uri": "s3://pace/models/other-ns/wine/u/versions/v1/model.joblib"})
    assert [p for p, _ in uri_policy.mlmodel_problems(theirs, "ns", policy)] == ["spec.model.uri"]


def test_pace_versions_says_a_version_was_imported() -> None:
    record = {"version": "v1", "trigger": "create", "source": {"kind": "imported"}}
    assert lineage.version_rows([record])[0][2] == "create (imported)"
    assert lineage.version_rows([{"version": "v2", "trigger": "drift"}])[0][2] == "drift"

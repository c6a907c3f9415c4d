"""Specs the CRD admits but no run could carry out: each is found before a run starts, and
named by its field (`pace.core.spec_checks`); the run-time cases name the field too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from pace.api.drift_monitor import DriftMonitorSpec
from pace.api.mlmodel import MLModelSpec, QualityGates
from pace.core import datasets, evaluation, quality_gates, spec_checks, status, training

WINE: dict[str, Any] = {
    "task": "classification",
    "dataset": {"uri": "sklearn://wine", "target": "target"},
}
DIABETES: dict[str, Any] = {
    "task": "regression",
    "dataset": {"uri": "sklearn://diabetes", "target": "target"},
}


def _spec(base: dict[str, Any], **fields: Any) -> MLModelSpec:
    return MLModelSpec.model_validate({**base, **fields})


def _found(spec: MLModelSpec) -> dict[str, str]:
    return dict(spec_checks.problems(spec))


def test_the_samples_and_plain_specs_pass() -> None:
    assert spec_checks.problems(_spec(WINE)) == []
    assert spec_checks.problems(_spec(DIABETES)) == []
    tuned = _spec(
        WINE,
        training={
            "algorithm": "random_forest",
            "hyperparameters": {"n_estimators": 50.0, "max_depth": None, "max_features": "sqrt"},
            "search": {"strategy": "grid", "space": {"min_samples_leaf": [1, 2, 0.1]}},
        },
        qualityGates={"metrics": [{"metric": "roc_auc", "min": 0.9}], "primaryMetric": "f1"},
    )
    assert spec_checks.problems(tuned) == []


@pytest.mark.parametrize(
    ("training_spec", "path", "words"),
    [
        (
            {"algorithm": "random_forest", "hyperparameters": {"n_estimators": "many"}},
            "spec.training.hyperparameters.n_estimators",
            "must be an int in the range [1, inf). Got 'many'",
        ),
        (
            {"algorithm": "random_forest", "hyperparameters": {"n_estimators": [10, 20]}},
            "spec.training.hyperparameters.n_estimators",
            "Got [10, 20]",
        ),
        (
            {"algorithm": "logistic_regression", "hyperparameters": {"fit_intercept": "yes"}},
            "spec.training.hyperparameters.fit_intercept",
            "must be an instance of 'bool'",
        ),
        (
            {"algorithm": "random_forest", "hyperparameters": {"n_estimator": 10}},
            "spec.training.hyperparameters.n_estimator",
            "not a parameter of random_forest; did you mean n_estimators?",
        ),
        (
            {"algorithm": "decision_tree", "hyperparameters": {"random_state": 3}},
            "spec.training.hyperparameters.random_state",
            "is set by the operator from spec.training.validation.seed",
        ),
        (
            {"algorithm": "svm", "hyperparameters": {"probability": False}},
            "spec.training.hyperparameters.probability",
            "is set by the operator",
        ),
        (
            {"algorithm": "auto", "hyperparameters": {"C": 1}},
            "spec.training.hyperparameters",
            "not used with algorithm auto",
        ),
        (
            {"algorithm": "linear_regression"},
            "spec.training.algorithm",
            "'linear_regression' is not available for task classification",
        ),
        (
            {"algorithm": "svm", "search": {"strategy": "grid", "space": {"C": [1, "big"]}}},
            "spec.training.search.space.C[1]",
            "Got 'big'",
        ),
        (
            {"algorithm": "svm", "search": {"strategy": "grid", "space": {"C": []}}},
            "spec.training.search.space.C",
            "lists no values to try",
        ),
        (
            {"algorithm": "svm", "search": {"space": {"C": [1, 10]}}},
            "spec.training.search.space",
            "not used with strategy none",
        ),
        (
            {"algorithm": "auto", "search": {"strategy": "random", "space": {"C": [1, 10]}}},
            "spec.training.search",
            "not used with algorithm auto",
        ),
        (
            {
                "algorithm": "knn",
                "search": {
                    "strategy": "random",
                    "space": {"n_neighbors": list(range(1, 101)), "leaf_size": list(range(1, 201))},
                },
            },
            "spec.training.search.space",
            "20000 combinations, more than 10000",
        ),
    ],
)
def test_training_problems_are_named_by_field(
    training_spec: dict[str, Any], path: str, words: str
) -> None:
    found = _found(_spec(WINE, training=training_spec))
    assert words in found[path], found


@pytest.mark.filterwarnings("ignore")
def test_a_hyperparameter_refused_here_fails_the_run_late_and_obscurely_today() -> None:
    """Why the check is worth having: train_model would spend a whole run to learn it."""
    frame = datasets.load_builtin("iris")
    with pytest.raises(ValueError, match="fits failed"):
        training.train(
            frame,
            target="target",
            task="classification",
            algorithm="decision_tree",
            hyperparameters={"max_depth": "deep"},
            search={},
            cv_folds=2,
            seed=0,
        )
    found = _found(
        _spec(
            WINE, training={"algorithm": "decision_tree", "hyperparameters": {"max_depth": "deep"}}
        )
    )
    assert "Got 'deep'" in found["spec.training.hyperparameters.max_depth"]


def test_a_hyperparameter_the_operator_had_a_default_for_can_be_set() -> None:
    """max_iter was passed twice (the operator's 2000 and the spec's): a TypeError."""
    pipe = training.build_pipeline(
        task="classification",
        algorithm="logistic_regression",
        hyperparameters={"max_iter": 50},
        seed=0,
        numeric=[0],
        categorical=[],
    )
    assert pipe.named_steps["model"].max_iter == 50
    spec = _spec(
        WINE, training={"algorithm": "logistic_regression", "hyperparameters": {"max_iter": 50}}
    )
    assert spec_checks.problems(spec) == []


@pytest.mark.parametrize(
    ("base", "gates", "path", "words"),
    [
        (
            WINE,
            {"metrics": [{"metric": "mae", "max": 1}]},
            "spec.qualityGates.metrics[0].metric",
            "'mae' is not a metric of task classification",
        ),
        (
            DIABETES,
            {"metrics": [{"metric": "r2", "min": 0}, {"metric": "accuracy", "min": 0.8}]},
            "spec.qualityGates.metrics[1].metric",
            "'accuracy' is not a metric of task regression",
        ),
        (
            WINE,
            {"primaryMetric": "rmse"},
            "spec.qualityGates.primaryMetric",
            "'rmse' is not a metric of task classification",
        ),
        (
            WINE,
            {"metrics": [{"metric": "accuracy_difference", "max": 0.1}]},
            "spec.qualityGates.metrics[0].metric",
            "computed only with spec.qualityGates.fairness",
        ),
        (
            DIABETES,
            {"fairness": {"sensitiveFeature": "sex"}},
            "spec.qualityGates.fairness",
            "needs task classification",
        ),
        (
            WINE,
            {"fairness": {"sensitiveFeature": "target"}},
            "spec.qualityGates.fairness.sensitiveFeature",
            "'target' is the target column",
        ),
    ],
)
def test_gate_metrics_the_task_does_not_compute_are_named(
    base: dict[str, Any], gates: dict[str, Any], path: str, words: str
) -> None:
    found = _found(_spec(base, qualityGates=gates))
    assert words in found[path], found


def test_a_gate_on_a_metric_the_task_lacks_rejects_every_candidate_today() -> None:
    """What the evaluate step does with such a gate: after a whole run, the candidate fails."""
    gates = QualityGates.model_validate({"metrics": [{"metric": "mae", "max": 1}]})
    verdict = quality_gates.evaluate_gates(
        {"accuracy": 0.9}, gates, task="classification", serving_metrics=None
    )
    assert not verdict.passed
    assert "'mae' was not computed" in verdict.failures[0]


def test_gate_fairness_metrics_pass_with_a_fairness_gate() -> None:
    gates = {
        "metrics": [{"metric": "accuracy_difference", "max": 0.1}],
        "fairness": {"sensitiveFeature": "alcohol"},
    }
    assert spec_checks.problems(_spec(WINE, qualityGates=gates)) == []


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_metric_names_are_the_ones_the_evaluate_step_computes(task: str) -> None:
    name = "iris" if task == "classification" else "diabetes"
    frame = datasets.load_builtin(name)
    train, test = evaluation.split(frame, target="target", task=task, test_size=0.3, seed=0)
    algorithm = "logistic_regression" if task == "classification" else "ridge"
    model = training.build_pipeline(
        task=task,
        algorithm=algorithm,
        hyperparameters={},
        seed=0,
        numeric=list(range(frame.shape[1] - 1)),
        categorical=[],
    )
    model.fit(train.drop(columns=["target"]), train["target"])
    computed = evaluation.compute_metrics(
        model, test, target="target", task=task, sensitive_feature=test.columns[0]
    )
    fairness = set(evaluation.FAIRNESS_METRICS) if task == "classification" else set()
    assert set(computed) == set(evaluation.METRICS[task]) | fairness


@pytest.mark.parametrize(
    ("base", "gate", "words"),
    [
        (
            WINE,
            {"metric": "mae"},
            "'mae' is not a live metric of task classification; use accuracy",
        ),
        (DIABETES, {}, "'accuracy' is not a live metric of task regression; use mae"),
    ],
)
def test_a_live_gate_metric_must_suit_the_task(
    base: dict[str, Any], gate: dict[str, Any], words: str
) -> None:
    found = _found(_spec(base, serving={"canary": {"liveGate": gate}}))
    assert found["spec.serving.canary.liveGate.metric"] == words


def test_a_recent_window_smaller_than_min_rows_is_never_used() -> None:
    recent = {"window": {"rows": 10}, "minRows": 20}
    found = _found(_spec(WINE, dataset={**WINE["dataset"], "recent": recent}))
    assert (
        "20 is more than spec.dataset.recent.window.rows (10)"
        in found["spec.dataset.recent.minRows"]
    )
    fits = {"window": {"rows": 120}, "minRows": 60}
    assert spec_checks.problems(_spec(WINE, dataset={**WINE["dataset"], "recent": fits})) == []


def test_group_by_the_target_is_named() -> None:
    found = _found(_spec(WINE, training={"validation": {"groupBy": "target"}}))
    assert "is the target column" in found["spec.training.validation.groupBy"]


def test_a_drift_window_smaller_than_min_rows_is_never_judged() -> None:
    spec = DriftMonitorSpec.model_validate(
        {"modelRef": {"name": "wine"}, "source": {"window": {"rows": 50}, "minRows": 100}}
    )
    [(path, words)] = spec_checks.drift_monitor_problems(spec)
    assert path == "spec.source.minRows"
    assert "100 is more than spec.source.window.rows (50)" in words
    fine = DriftMonitorSpec.model_validate({"modelRef": {"name": "wine"}})
    assert spec_checks.drift_monitor_problems(fine) == []


def test_the_message_names_every_field_and_stays_short() -> None:
    problems = [("spec.a", "x" * 1000), ("spec.b", "short")]
    text = spec_checks.message(problems)
    assert text.startswith("invalid spec: spec.a: xxx")
    assert "; spec.b: short" in text
    assert len(text) < 1000


def test_a_condition_message_past_the_schema_limit_is_cut() -> None:
    """A pydantic error naming a huge map key made a message the Condition model refused."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    long = status.condition("SpecValid", "False", "InvalidSpec", "k" * 40000, generation=1, now=now)
    assert len(long.message) == status.MAX_MESSAGE
    assert long.message.endswith("…")


@pytest.mark.parametrize(
    ("task", "target", "words"),
    [
        ("classification", [0, 1, 2] * 4, "5 folds need 5 rows of at least one class"),
        ("regression", [0.1, 0.2, 0.3], "5 folds need 5 rows; the training split has 3"),
    ],
)
def test_too_few_rows_for_the_folds_name_the_field(
    task: str, target: list[float], words: str
) -> None:
    """A small recent window (mode replace) can leave fewer rows than cvFolds: the run's
    message names the field instead of scikit-learn's splitter."""
    frame = pd.DataFrame({"a": range(len(target)), "target": target})
    with pytest.raises(training.TrainingError, match=r"spec\.training\.validation\.cvFolds") as err:
        training.train(
            frame,
            target="target",
            task=task,
            algorithm="decision_tree",
            hyperparameters={},
            search={},
            cv_folds=5,
            seed=0,
        )
    assert words in str(err.value)


def test_an_empty_search_dimension_names_the_field_at_run_time() -> None:
    """It made an empty grid, and train_model ended on a bare AssertionError."""
    with pytest.raises(training.TrainingError, match=r"space\.max_depth lists no values"):
        training.train(
            datasets.load_builtin("iris"),
            target="target",
            task="classification",
            algorithm="decision_tree",
            hyperparameters={},
            search={"strategy": "grid", "space": {"max_depth": []}},
            cv_folds=2,
            seed=0,
        )

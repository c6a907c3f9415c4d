"""The estimator table (`pace.core.estimator_table`) against scikit-learn itself: the file is
what the installed scikit-learn declares, and the operator's checks refuse exactly what
scikit-learn's own validation refuses, with its words. (This test imports scikit-learn; the
operator does not.)"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from pace.core import estimator_table, training

BATTERY: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2,
    3,
    100,
    2**33,
    0.0,
    0.1,
    0.5,
    1.5,
    -0.5,
    1e9,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "auto",
    "sqrt",
    "log2",
    "gini",
    "balanced",
    "warn",
    "many",
    [1, 2],
    [],
    {"a": 1},
    {},
]


def _values(constraints: list[dict[str, Any]]) -> list[Any]:
    """The battery, each declared option, and each interval bound and its neighbours."""
    values = list(BATTERY)
    for c in constraints:
        values += list(c.get("options", []))
        for bound in (c.get("left"), c.get("right")):
            if isinstance(bound, int | float) and math.isfinite(bound):
                values += [bound, bound + 1, bound - 1, bound + 0.5, bound - 0.5, float(bound)]
    return values


def _sets_sorted(message: str | None) -> str | None:
    """scikit-learn lists an option set in hash order; compare messages with sets sorted."""
    if message is None:
        return None
    return re.sub(
        r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message
    )


def test_the_table_is_what_the_installed_scikit_learn_declares() -> None:
    assert estimator_table.render() == estimator_table.TABLE_PATH.read_text(), (
        "operator/pace/core/estimator_table.json is stale: run make estimator-table"
    )


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_table_refuses_exactly_what_scikit_learn_refuses(task: str) -> None:
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        validate_parameter_constraints,
    )

    checked = 0
    for algorithm, estimator in training.estimators(task).items():
        make = estimator.make
        declared = make._parameter_constraints
        entry = estimator_table.entry(task, algorithm)
        assert entry["class"] == make.__name__
        for name, constraints in entry["constraints"].items():
            for raw in _values(constraints):
                value = training.normalize(raw)
                try:
                    validate_parameter_constraints(
                        declared, {name: value}, caller_name=make.__name__
                    )
                    theirs = None
                except InvalidParameterError as exc:
                    theirs = _sets_sorted(str(exc))
                ours = _sets_sorted(training.parameter_problem(task, algorithm, name, raw))
                assert ours == theirs, (algorithm, name, raw)
                checked += 1
    assert checked > 1000


def test_names_and_reserved_match_the_estimators() -> None:
    for task in ("classification", "regression"):
        assert training.algorithms(task) == sorted(training.estimators(task))
        for algorithm, estimator in training.estimators(task).items():
            assert training.reserved(task, algorithm) == tuple(sorted(estimator.reserved()))
            names = set(estimator.make().get_params(deep=False)) - set(estimator.reserved())
            assert set(training.parameters(task, algorithm)) == names


def test_the_operator_checks_a_spec_without_importing_scikit_learn() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pace.api.mlmodel import MLModelSpec\n"
        "from pace.core import spec_checks\n"
        "spec = MLModelSpec.model_validate({'task': 'classification', "
        "'dataset': {'uri': 'sklearn://wine', 'target': 'target'}, "
        "'training': {'algorithm': 'random_forest', 'hyperparameters': {'n_estimators': 'x'}, "
        "'search': {'strategy': 'grid', 'space': {'max_depth': [2, None]}}}})\n"
        "problems = spec_checks.problems(spec)\n"
        "assert any('n_estimators' in p for _, p in problems), problems\n"
        "print(sorted(m for m in ('sklearn', 'scipy', 'pandas') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"

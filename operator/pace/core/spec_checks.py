"""Specs the CRD schema admits but no run could carry out (pure).

The API server checks each field's type, range and the CEL rules; what it cannot know is how
fields meet the code that trains and judges a model: which metrics a task computes, which
keyword arguments an estimator takes, whether a window can ever hold enough rows. `problems`
finds those before a run is started, each as ``(field path, message)`` with the path as the
user wrote it (``spec.qualityGates.metrics[0].metric``); the MLModel handler reports them as
SpecValid=False, reason InvalidSpec, and starts nothing until the spec is fixed.

Checks the CRD already makes are not repeated here (see ``crds/``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from pace.api.drift_monitor import DriftMonitorSpec
from pace.api.mlmodel import MLModelSpec
from pace.core import evaluation, training

Problem = tuple[str, str]  # (field path, what is wrong)
MAX_SEARCH_POINTS = 10_000  # grid points (random search draws from the whole grid)
MAX_PROBLEM = 400  # characters of one problem's message
SHOWN = 64  # characters of a user's value (or name) quoted back


def shown(value: object) -> str:
    """A value quoted back in a message, at most SHOWN characters of it."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _key(name: str) -> str:
    """A map key in a field path: as it is, when it reads as one."""
    return name if name.isidentifier() else shown(name)


def message(problems: list[Problem]) -> str:
    """The SpecValid message: every problem as ``<path>: <what>``."""
    parts = []
    for path, what in problems:
        text = f"{path}: {what}"
        parts.append(text if len(text) <= MAX_PROBLEM else text[:MAX_PROBLEM] + "…")
    return "invalid spec: " + "; ".join(parts)


def problems(spec: MLModelSpec) -> list[Problem]:
    """Everything in an MLModel spec that the schema admits and a run would trip over."""
    return [
        *_algorithm(spec),
        *_search(spec),
        *_gates(spec),
        *_live_gate(spec),
        *_recent(spec),
        *_columns(spec),
    ]


def metric_problem(task: str, metric: str, *, fairness: bool = False) -> str | None:
    """Why ``metric`` is not computed for a ``task`` model (None: it is). The fairness
    metrics are computed only with a fairness gate (``fairness``)."""
    if metric in evaluation.METRICS.get(task, ()):
        return None
    if task == "classification" and metric in evaluation.FAIRNESS_METRICS:
        if fairness:
            return None
        return f"{shown(metric)} is computed only with spec.qualityGates.fairness"
    known = ", ".join(evaluation.METRICS.get(task, ()))
    return f"{shown(metric)} is not a metric of task {task} ({known})"


def _algorithm(spec: MLModelSpec) -> Iterator[Problem]:
    training_spec = spec.training
    algorithm = training_spec.algorithm
    if algorithm == "auto":
        if training_spec.hyperparameters:
            yield (
                "spec.training.hyperparameters",
                "not used with algorithm auto (it compares candidates at their defaults); "
                "name an algorithm, or remove them",
            )
        return
    available = training.algorithms(spec.task)
    if algorithm not in available:
        yield (
            "spec.training.algorithm",
            f"{shown(algorithm)} is not available for task {spec.task}; "
            f"choose auto or one of {', '.join(available)}",
        )
        return
    for name, value in training_spec.hyperparameters.items():
        path = f"spec.training.hyperparameters.{_key(name)}"
        yield from _parameter(spec.task, algorithm, path, name, [(path, value)])


_SET_BY_OPERATOR = {
    "random_state": "from spec.training.validation.seed",
    "n_jobs": "(each fit runs on one core)",
    "probability": "(the metrics and explanations need class probabilities)",
}


def _parameter(
    task: str, algorithm: str, path: str, name: str, values: list[tuple[str, Any]]
) -> Iterator[Problem]:
    """A hyperparameter (or a search dimension) the estimator would refuse: the first of
    ``values`` (each with its own path) that it would refuse."""
    if name in training.reserved(task, algorithm):
        yield path, f"is set by the operator {_SET_BY_OPERATOR.get(name, '')}".rstrip()
        return
    known = training.parameters(task, algorithm)
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"it takes {', '.join(known)}"
        yield path, f"not a parameter of {algorithm}; {hint}"
        return
    for where, value in values:
        problem = training.parameter_problem(task, algorithm, name, value)
        if problem is not None:
            yield where, problem
            return


def _search(spec: MLModelSpec) -> Iterator[Problem]:
    search, algorithm = spec.training.search, spec.training.algorithm
    space = search.space or {}
    if not space:
        return
    if search.strategy == "none":
        yield (
            "spec.training.search.space",
            "not used with strategy none; set spec.training.search.strategy to grid or random",
        )
        return
    if algorithm == "auto":
        yield (
            "spec.training.search",
            "not used with algorithm auto; name an algorithm to search its hyperparameters",
        )
        return
    points = 1
    for name, values in space.items():
        path = f"spec.training.search.space.{_key(name)}"
        if not values:
            yield path, "lists no values to try"
            continue
        points *= len(values)
        if algorithm in training.algorithms(spec.task):
            indexed = [(f"{path}[{i}]", value) for i, value in enumerate(values)]
            yield from _parameter(spec.task, algorithm, path, name, indexed)
    if points > MAX_SEARCH_POINTS:
        yield (
            "spec.training.search.space",
            f"{points} combinations, more than {MAX_SEARCH_POINTS} (each is fitted "
            f"{spec.training.validation.cv_folds} times; random search draws from them all)",
        )


def _gates(spec: MLModelSpec) -> Iterator[Problem]:
    gates, task = spec.quality_gates, spec.task
    fairness = gates.fairness is not None
    for i, gate in enumerate(gates.metrics):
        problem = metric_problem(task, gate.metric, fairness=fairness)
        if problem is not None:
            yield f"spec.qualityGates.metrics[{i}].metric", problem
    if gates.primary_metric is not None:
        problem = metric_problem(task, gates.primary_metric, fairness=fairness)
        if problem is not None:
            yield "spec.qualityGates.primaryMetric", problem
    if gates.fairness is not None:
        if task != "classification":
            yield (
                "spec.qualityGates.fairness",
                f"needs task classification (a {task} model computes no group disparity)",
            )
        feature = gates.fairness.sensitive_feature
        path = "spec.qualityGates.fairness.sensitiveFeature"
        if feature == spec.dataset.target:
            yield path, f"{shown(feature)} is the target column (spec.dataset.target)"
        elif spec.dataset.features is not None and feature not in spec.dataset.features:
            yield path, f"{shown(feature)} is not one of spec.dataset.features"


def _live_gate(spec: MLModelSpec) -> Iterator[Problem]:
    gate = spec.serving.canary.live_gate
    wanted = "accuracy" if spec.task == "classification" else "mae"
    if gate is not None and gate.metric != wanted:
        yield (
            "spec.serving.canary.liveGate.metric",
            f"{gate.metric!r} is not a live metric of task {spec.task}; use {wanted}",
        )


def _recent(spec: MLModelSpec) -> Iterator[Problem]:
    recent = spec.dataset.recent
    if recent is None or recent.window.rows is None:
        return
    if recent.window.rows < recent.min_rows:
        yield (
            "spec.dataset.recent.minRows",
            f"{recent.min_rows} is more than spec.dataset.recent.window.rows "
            f"({recent.window.rows}): the window never holds enough rows to be used",
        )


def _columns(spec: MLModelSpec) -> Iterator[Problem]:
    group_by = spec.training.validation.group_by
    if group_by is not None and group_by == spec.dataset.target:
        yield (
            "spec.training.validation.groupBy",
            f"{shown(group_by)} is the target column (spec.dataset.target)",
        )


def drift_monitor_problems(spec: DriftMonitorSpec) -> list[Problem]:
    """What a DriftMonitor spec asks that no check could ever judge."""
    window = spec.source.window
    if window.rows is not None and window.rows < spec.source.min_rows:
        return [
            (
                "spec.source.minRows",
                f"{spec.source.min_rows} is more than spec.source.window.rows "
                f"({window.rows}): no window would ever be judged",
            )
        ]
    return []

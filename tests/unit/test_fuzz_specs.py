"""Fuzzing MLModel specs that the CRD admits but that may be wrong.

Specs are the repository's sample (manifests/samples/mlmodel_wine.yaml) with fields changed
the way a person gets them wrong: another task, algorithm, hyperparameters of any JSON type,
search spaces, gate metrics of the other task, live gates, recent windows, odd column names.
Each is run through the MLModel reconcile's acceptance (`pace.handlers.mlmodel.parse`: the
pydantic parse, then `pace.core.spec_checks`).

Property: acceptance never raises; a spec it refuses gets a SpecValid condition the status
can hold, whose message names a ``spec.`` field for every problem; a spec it accepts has
hyperparameters that scikit-learn's own checks take.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from pace.api.mlmodel import ALGORITHMS, MLModel
from pace.core import evaluation, spec_checks, status, training, uri_policy
from pace.handlers import mlmodel

POLICY = uri_policy.ReadPolicy("pace")
SAMPLE = yaml.safe_load(
    (Path(__file__).parents[2] / "manifests" / "samples" / "mlmodel_wine.yaml").read_text()
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TASKS = ("classification", "regression")
DATASETS = {"classification": "sklearn://wine", "regression": "sklearn://diabetes"}

PARAMETER_NAMES = sorted(
    {
        name
        for task in TASKS
        for algorithm in training.algorithms(task)
        for name in (*training.parameters(task, algorithm), *training.reserved(task, algorithm))
    }
)
METRIC_NAMES = sorted(
    {m for names in evaluation.METRICS.values() for m in names} | set(evaluation.FAIRNESS_METRICS)
)
COLUMNS = ["target", "alcohol", "malic_acid", "age", "sex", "bmi"]

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),  # JSON has neither
    st.text(max_size=12),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
NAMES = st.sampled_from(PARAMETER_NAMES) | st.text(max_size=16)
FINITE = st.floats(-10, 10, allow_nan=False)


@st.composite
def gates(draw: st.DrawFn) -> dict[str, Any]:
    """qualityGates with metrics of either task (or none), bounds the CEL rules allow."""
    metrics = []
    for _ in range(draw(st.integers(0, 3))):
        metric = draw(st.sampled_from(METRIC_NAMES) | st.text(min_size=1, max_size=64))
        low, high = sorted((draw(FINITE), draw(FINITE)))
        bounds = draw(st.sampled_from([{"min": low}, {"max": high}, {"min": low, "max": high}]))
        metrics.append({"metric": metric, **bounds})
    out: dict[str, Any] = {"metrics": metrics, "minDelta": draw(FINITE)}
    if draw(st.booleans()):
        out["primaryMetric"] = draw(st.sampled_from(METRIC_NAMES) | st.text(max_size=20))
    if draw(st.booleans()):
        out["fairness"] = {
            "sensitiveFeature": draw(st.sampled_from(COLUMNS) | st.text(min_size=1, max_size=8)),
            "metric": draw(st.sampled_from(evaluation.FAIRNESS_METRICS)),
            "maxDisparity": draw(st.floats(0, 1)),
        }
    return out


@st.composite
def searches(draw: st.DrawFn) -> dict[str, Any]:
    space = draw(st.dictionaries(NAMES, st.lists(JSON_VALUES, max_size=4), max_size=3))
    strategy = draw(st.sampled_from(["none", "grid", "random"]))
    out: dict[str, Any] = {"strategy": strategy, "trials": draw(st.integers(1, 1000))}
    if space or strategy != "none":  # CEL: grid and random need a space
        out["space"] = space
    return out


@st.composite
def recents(draw: st.DrawFn) -> dict[str, Any]:
    window = draw(
        st.sampled_from([{"duration": "24h"}, {"duration": "90s"}])
        | st.integers(1, 10_000_000).map(lambda rows: {"rows": rows})
    )
    return {
        "source": draw(st.sampled_from(["inference-log", "s3://fresh-data/labelled/"])),
        "window": window,
        "mode": draw(st.sampled_from(["append", "replace"])),
        "minRows": draw(st.integers(1, 1000)),
    }


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """The sample's spec with some fields changed; the rest as in the sample."""
    spec: dict[str, Any] = copy.deepcopy(SAMPLE["spec"])
    if draw(st.booleans()):
        task = draw(st.sampled_from(TASKS))
        spec["task"] = task
        spec["dataset"]["uri"] = draw(st.sampled_from([DATASETS[task], *DATASETS.values()]))
    training_spec = spec["training"]
    if draw(st.booleans()):
        training_spec["algorithm"] = draw(st.sampled_from(ALGORITHMS))
    if draw(st.booleans()):
        training_spec["hyperparameters"] = draw(st.dictionaries(NAMES, JSON_VALUES, max_size=4))
    if draw(st.booleans()):
        training_spec["search"] = draw(searches())
    if draw(st.booleans()):
        group = draw(st.sampled_from(COLUMNS) | st.text(max_size=8))
        training_spec["validation"]["groupBy"] = group
    if draw(st.booleans()):
        spec["qualityGates"] = draw(gates())
    if draw(st.booleans()):
        live = {"metric": draw(st.sampled_from(["accuracy", "mae"]))}
        spec["serving"]["canary"]["liveGate"] = draw(st.sampled_from([live, {}]))
    if draw(st.booleans()):
        spec["dataset"]["recent"] = draw(recents())
    if draw(st.booleans()):
        features = draw(st.lists(st.sampled_from(COLUMNS[1:]), min_size=1, unique=True))
        spec["dataset"]["features"] = features
    return spec


def body(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": SAMPLE["apiVersion"],
        "kind": SAMPLE["kind"],
        "metadata": {"name": "wine", "namespace": "ns", "generation": 2},
        "spec": spec,
    }


def assert_accepted_or_named(spec: dict[str, Any]) -> MLModel | str:
    """The reconcile's acceptance of a spec: a model, or a message naming every field."""
    outcome = mlmodel.parse(body(spec), POLICY)
    if isinstance(outcome, str):
        assert outcome.startswith("invalid spec: spec."), outcome
        # what the reconcile then writes: the condition must fit the status schema
        condition = status.condition(
            "SpecValid", "False", "InvalidSpec", outcome, generation=2, now=NOW
        )
        assert condition.message
        for path in named_fields(spec):
            assert path.startswith("spec."), path
            assert f"{path}: " in outcome
    return outcome


def named_fields(spec: dict[str, Any]) -> list[str]:
    """The field paths a refusal names: pydantic's error locations, or the checks' paths."""
    try:
        parsed = MLModel.from_body(body(spec))
    except pydantic.ValidationError as exc:
        return [".".join(str(part) for part in err["loc"]) for err in exc.errors()]
    return [path for path, _ in spec_checks.problems(parsed.spec)]


@given(specs())
@example({**SAMPLE["spec"], "training": {"search": {"space": {"k" * 40_000: 1}}}})
@example({**SAMPLE["spec"], "training": {"hyperparameters": {"n_estimators": "many"}}})
@example({**SAMPLE["spec"], "qualityGates": {"metrics": [{"metric": "mae", "max": 1.0}]}})
def test_any_changed_spec_is_accepted_or_refused_naming_its_fields(spec: dict[str, Any]) -> None:
    assert_accepted_or_named(spec)


@given(specs())
def test_an_accepted_spec_trains_with_what_it_names(spec: dict[str, Any]) -> None:
    """What acceptance lets through, the run's own checks take: the algorithm exists for the
    task, every hyperparameter (and search value) is one the estimator accepts, and every
    gate metric is one the evaluate step computes."""
    outcome = assert_accepted_or_named(spec)
    if isinstance(outcome, str):
        return
    parsed = outcome.spec
    algorithm = parsed.training.algorithm
    if algorithm != "auto":
        assert algorithm in training.algorithms(parsed.task)
        values = dict(parsed.training.hyperparameters)
        if parsed.training.search.strategy != "none":
            for name, tried in (parsed.training.search.space or {}).items():
                for value in tried:
                    training.estimators(parsed.task)[algorithm].build(0, {**values, name: value})
        estimator = training.estimators(parsed.task)[algorithm].build(0, values)
        for name, value in values.items():
            assert training.parameter_problem(parsed.task, algorithm, name, value) is None
        assert estimator.get_params()  # built with them, as train_model will
    fairness = parsed.quality_gates.fairness is not None
    for gate in parsed.quality_gates.metrics:
        assert spec_checks.metric_problem(parsed.task, gate.metric, fairness=fairness) is None


def test_the_sample_is_accepted_as_it_is() -> None:
    assert isinstance(mlmodel.parse(body(copy.deepcopy(SAMPLE["spec"])), POLICY), MLModel)
    assert json.dumps(SAMPLE["spec"])  # (the sample is plain JSON: what the API server holds)

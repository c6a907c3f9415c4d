"""The models parse the samples and agree with the CRD defaults."""

from pathlib import Path

import pydantic
import pytest
import yaml

from pace.api import cron as cron_api
from pace.api import drift_monitor, mlmodel, retrain_policy

SAMPLES = Path(__file__).parents[2] / "manifests" / "samples"


def load(name: str) -> dict:  # type: ignore[type-arg]
    body = yaml.safe_load((SAMPLES / name).read_text())
    body["metadata"]["namespace"] = "default"
    return body  # type: ignore[no-any-return]


def test_mlmodel_sample_parses_with_defaults() -> None:
    model = mlmodel.MLModel.from_body(load("mlmodel_wine.yaml"))
    assert model.spec.task == "classification"
    assert model.spec.dataset.uri == "sklearn://wine"
    assert model.spec.serving.canary.steps == [20, 50, 100]
    assert model.spec.training.validation.cv_folds == 5
    assert model.spec.quality_gates.metrics[0].min == 0.8
    assert model.status.conditions == []


def test_drift_monitor_and_policy_samples_parse() -> None:
    monitor = drift_monitor.DriftMonitor.from_body(load("driftmonitor_wine.yaml"))
    assert monitor.spec.source.window.rows == 200
    assert monitor.spec.detector.p_value == 0.01
    policy = retrain_policy.RetrainPolicy.from_body(load("retrainpolicy_wine.yaml"))
    assert policy.spec.triggers.drift is not None
    assert policy.spec.triggers.drift.consecutive_checks == 2
    assert policy.spec.cooldown == "2m"


def test_camel_case_round_trip() -> None:
    spec = mlmodel.MLModelSpec.model_validate(
        {"task": "regression", "dataset": {"uri": "sklearn://diabetes", "target": "target"}}
    )
    dumped = spec.to_k8s()
    assert dumped["qualityGates"]["minDelta"] == 0.0
    assert dumped["training"]["validation"]["testSize"] == 0.2


def test_bad_spec_names_the_field() -> None:
    with pytest.raises(pydantic.ValidationError) as err:
        mlmodel.MLModelSpec.model_validate({"task": "clustering", "dataset": {}})
    text = str(err.value)
    assert "task" in text
    assert "dataset.uri" in text


def test_metric_trigger_for_alias() -> None:
    trig = retrain_policy.MetricTrigger.model_validate({"query": "up", "threshold": 1, "for": "5m"})
    assert trig.for_ == "5m"
    assert trig.to_k8s()["for"] == "5m"


def test_an_unchanged_spec_keeps_its_hash_across_the_recent_field() -> None:
    """dataset.recent came later: while unset, the sample's hash is the one computed before
    it existed (an upgraded operator retrains nothing); setting it changes the hash."""
    from pace.core import spec_hash

    body = load("mlmodel_wine.yaml")
    fresh = body["spec"]["dataset"].pop("recent")  # the sample as it was before the field
    del body["spec"]["qualityGates"]["minDelta"]  # (added to the sample with the field)
    assert spec_hash.spec_hash(mlmodel.MLModel.from_body(body).spec) == "d9777f1cc40781f2"
    assert fresh["mode"] == "replace"
    body["spec"]["dataset"]["recent"] = {"source": "inference-log"}
    recent = mlmodel.MLModel.from_body(body).spec
    assert recent.dataset.recent is not None
    assert recent.dataset.recent.window.duration == "24h"
    assert spec_hash.spec_hash(recent) != "d9777f1cc40781f2"


@pytest.mark.parametrize("index", range(5))
def test_cron_field_ranges_match_what_croniter_runs(index: int) -> None:
    """The numbers the CRD's CEL rules allow in each cron field are exactly those croniter
    takes there (the rules themselves run in the API server: tests/integration)."""
    import re

    from croniter import croniter

    name, _, number = cron_api.CRON_FIELDS[index]
    for n in [*range(100), "00", "07"]:
        cron = " ".join(str(n) if i == index else "*" for i in range(5))
        allowed = re.fullmatch(number, str(n)) is not None
        assert allowed == croniter.is_valid(cron), (name, n)

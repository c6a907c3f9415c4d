"""The real kube-apiserver stores valid objects with defaults and refuses invalid ones,
with a message that names the offending field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from pace.api import constants
from tests.servers.kube_apiserver import Cluster

SAMPLES = Path(__file__).parents[2] / "manifests" / "samples"


def sample(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((SAMPLES / name).read_text()))


def create(cluster: Cluster, namespace: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = cluster.custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, plural, body
    )
    return result


MINIMAL_MODEL = {
    "apiVersion": constants.API_VERSION,
    "kind": "MLModel",
    "metadata": {"name": "m"},
    "spec": {"task": "regression", "dataset": {"uri": "sklearn://diabetes", "target": "target"}},
}


def test_minimal_mlmodel_is_stored_with_defaults(kube_cluster: Cluster, namespace: str) -> None:
    stored = create(kube_cluster, namespace, constants.MLMODEL_PLURAL, MINIMAL_MODEL)
    spec = stored["spec"]
    assert spec["training"]["algorithm"] == "auto"
    assert spec["training"]["validation"] == {"testSize": 0.2, "cvFolds": 5, "seed": 42}
    assert spec["training"]["search"] == {"strategy": "none", "trials": 10}
    assert spec["serving"]["canary"]["steps"] == [10, 25, 50, 100]
    assert spec["serving"]["canary"]["interval"] == "30s"
    assert spec["serving"]["canary"]["maxFailedChecks"] == 2
    assert spec["serving"]["replicas"] == 1
    assert spec["explainability"] == {"method": "permutation", "samples": 100}
    assert spec["qualityGates"]["minDelta"] == 0
    assert spec["liveQuality"] == {"window": "1h", "interval": "30s"}
    assert spec["retention"] == {"inferenceLog": "168h"}


@pytest.mark.parametrize(
    ("plural", "file"),
    [
        (constants.MLMODEL_PLURAL, "mlmodel_wine.yaml"),
        (constants.DRIFT_MONITOR_PLURAL, "driftmonitor_wine.yaml"),
        (constants.RETRAIN_POLICY_PLURAL, "retrainpolicy_wine.yaml"),
    ],
)
def test_samples_are_accepted(
    kube_cluster: Cluster, namespace: str, plural: str, file: str
) -> None:
    body = sample(file)
    stored = create(kube_cluster, namespace, plural, body)
    assert stored["metadata"]["name"] == body["metadata"]["name"]
    assert stored["metadata"]["generation"] == 1


def test_drift_monitor_defaults(kube_cluster: Cluster, namespace: str) -> None:
    body = {
        "apiVersion": constants.API_VERSION,
        "kind": "DriftMonitor",
        "metadata": {"name": "d"},
        "spec": {"modelRef": {"name": "m"}},
    }
    spec = create(kube_cluster, namespace, constants.DRIFT_MONITOR_PLURAL, body)["spec"]
    assert spec["detector"] == {"type": "tabular", "pValue": 0.05, "correction": "bonferroni"}
    assert spec["source"] == {"window": {"rows": 500}, "minRows": 100}
    assert spec["interval"] == "5m"


def _with(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    node = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is _DELETE:
        node.pop(keys[-1])
    else:
        node[keys[-1]] = value
    return body


_DELETE = object()
_MODEL = MINIMAL_MODEL
_MONITOR = {
    "apiVersion": constants.API_VERSION,
    "kind": "DriftMonitor",
    "metadata": {"name": "d"},
    "spec": {"modelRef": {"name": "m"}},
}
_POLICY = {
    "apiVersion": constants.API_VERSION,
    "kind": "RetrainPolicy",
    "metadata": {"name": "p"},
    "spec": {"modelRef": {"name": "m"}, "triggers": {"schedule": {"cron": "0 * * * *"}}},
}

_BATCH = {"schedule": "@hourly", "input": "s3://pace/drops/", "output": "s3://pace/scored/"}

INVALID = [
    ("task-enum", constants.MLMODEL_PLURAL, _with(_MODEL, "spec.task", "clustering"), "spec.task"),
    (
        "target-required",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.dataset.target", _DELETE),
        "spec.dataset.target",
    ),
    (
        "dataset-uri-form",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.dataset.uri", "http://example/data.csv"),
        "spec.dataset.uri",
    ),
    (
        "unknown-builtin",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.dataset.uri", "sklearn://mnist"),
        "spec.dataset.uri",
    ),
    (
        "steps-not-increasing",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.serving.canary.steps", [50, 25, 100]),
        "spec.serving.canary.steps",
    ),
    (
        "steps-not-ending-at-100",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.serving.canary.steps", [10, 50]),
        "spec.serving.canary.steps",
    ),
    (
        "steps-duplicate",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.serving.canary.steps", [10, 10, 100]),
        "spec.serving.canary.steps",
    ),
    (
        "step-over-100",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.serving.canary.steps", [10, 150]),
        "spec.serving.canary.steps",
    ),
    (
        "replicas-negative",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.serving.replicas", -1),
        "spec.serving.replicas",
    ),
    (
        "interval-syntax",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.serving.canary.interval", "ten seconds"),
        "spec.serving.canary.interval",
    ),
    (
        "test-size-range",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.training.validation.testSize", 1.5),
        "spec.training.validation.testSize",
    ),
    (
        "algorithm-enum",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.training.algorithm", "xgboost"),
        "spec.training.algorithm",
    ),
    (
        "target-in-features",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.dataset.features", ["age", "target"]),
        "spec.dataset.features",
    ),
    (
        "search-space-missing",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.training.search", {"strategy": "grid"}),
        "spec.training.search.space",
    ),
    (
        "gate-without-bound",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.qualityGates.metrics", [{"metric": "r2"}]),
        "spec.qualityGates.metrics[0]",
    ),
    (
        "pvalue-range",
        constants.DRIFT_MONITOR_PLURAL,
        _with(_MONITOR, "spec.detector.pValue", 1.0),
        "spec.detector.pValue",
    ),
    (
        "pvalue-zero",
        constants.DRIFT_MONITOR_PLURAL,
        _with(_MONITOR, "spec.detector.pValue", 0),
        "spec.detector.pValue",
    ),
    (
        "detector-enum",
        constants.DRIFT_MONITOR_PLURAL,
        _with(_MONITOR, "spec.detector.type", "psi"),
        "spec.detector.type",
    ),
    (
        "window-both",
        constants.DRIFT_MONITOR_PLURAL,
        _with(_MONITOR, "spec.source.window", {"rows": 100, "duration": "5m"}),
        "spec.source.window",
    ),
    (
        "monitor-modelref-required",
        constants.DRIFT_MONITOR_PLURAL,
        _with(_MONITOR, "spec.modelRef", _DELETE),
        "spec.modelRef",
    ),
    (
        "policy-modelref-required",
        constants.RETRAIN_POLICY_PLURAL,
        _with(_POLICY, "spec.modelRef", _DELETE),
        "spec.modelRef",
    ),
    (
        "cron-syntax",
        constants.RETRAIN_POLICY_PLURAL,
        _with(_POLICY, "spec.triggers.schedule.cron", "every day"),
        "spec.triggers.schedule.cron",
    ),
    (
        "no-trigger",
        constants.RETRAIN_POLICY_PLURAL,
        _with(_POLICY, "spec.triggers", {}),
        "spec.triggers",
    ),
    (
        "share-range",
        constants.RETRAIN_POLICY_PLURAL,
        _with(_POLICY, "spec.triggers.drift", {"monitorRef": {"name": "d"}, "minShareDrifted": 2}),
        "spec.triggers.drift.minShareDrifted",
    ),
    (
        "max-concurrent-runs",
        constants.RETRAIN_POLICY_PLURAL,
        _with(_POLICY, "spec.maxConcurrentRuns", 0),
        "spec.maxConcurrentRuns",
    ),
    (
        "performance-both-bounds",
        constants.RETRAIN_POLICY_PLURAL,
        _with(_POLICY, "spec.triggers.performance", {"metric": "accuracy", "below": 1, "above": 0}),
        "spec.triggers.performance",
    ),
    (
        "performance-metric",
        constants.RETRAIN_POLICY_PLURAL,
        _with(_POLICY, "spec.triggers.performance", {"metric": "auc", "below": 0.8}),
        "spec.triggers.performance.metric",
    ),
    (
        "recent-window-both",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.dataset.recent", {"window": {"duration": "1h", "rows": 5}}),
        "spec.dataset.recent.window",
    ),
    (
        "recent-source",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.dataset.recent", {"source": "http://elsewhere/"}),
        "spec.dataset.recent.source",
    ),
    (
        "recent-mode",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.dataset.recent", {"mode": "merge"}),
        "spec.dataset.recent.mode",
    ),
    (
        "shadow-without-live-gate",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.serving.canary", {"strategy": "shadow"}),
        "spec.serving.canary.liveGate",
    ),
    (
        "live-window",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.liveQuality.window", "a day"),
        "spec.liveQuality.window",
    ),
    (
        "retention-format",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.retention", {"inferenceLog": "7d"}),
        "spec.retention.inferenceLog",
    ),
    (
        "retention-below-live-window",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.retention", {"inferenceLog": "30m"}),  # liveQuality.window 1h
        "spec.retention.inferenceLog",
    ),
    (
        "retention-below-recent-window",
        constants.MLMODEL_PLURAL,
        _with(
            _with(_MODEL, "spec.retention", {"inferenceLog": "2h"}),
            "spec.dataset.recent",
            {"window": {"duration": "24h"}},
        ),
        "spec.retention.inferenceLog",
    ),
    (
        "notifications-duplicate-webhook",
        constants.MLMODEL_PLURAL,
        _with(
            _MODEL,
            "spec.notifications",
            {"webhooks": [{"name": "a", "url": "http://x/"}, {"name": "a", "url": "http://y/"}]},
        ),
        "spec.notifications.webhooks",
    ),
    (
        "notifications-url-scheme",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.notifications", {"webhooks": [{"name": "a", "url": "ftp://x/"}]}),
        "spec.notifications.webhooks[0].url",
    ),
    (
        "imported-model-file",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.model", {"uri": "s3://models-in/wine/model.txt"}),
        "spec.model.uri",
    ),
    (
        "imported-model-format",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.model", {"uri": "s3://models-in/wine/", "format": "onnx"}),
        "spec.model.format",
    ),
    (
        "imported-model-with-recent-data",
        constants.MLMODEL_PLURAL,
        _with(
            _with(_MODEL, "spec.model", {"uri": "s3://models-in/wine/model.joblib"}),
            "spec.dataset.recent",
            {"window": {"rows": 100}},
        ),
        "spec.dataset.recent",
    ),
    (
        "batch-output-is-input",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.batch", _BATCH | {"output": "s3://pace/drops/"}),
        "spec.batch.output",
    ),
    (
        "batch-input-not-a-prefix",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.batch", _BATCH | {"input": "s3://pace/drops/a.csv"}),
        "spec.batch.input",
    ),
    (
        "batch-version",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.batch", _BATCH | {"version": "latest"}),
        "spec.batch.version",
    ),
    (
        "batch-cron-minute",
        constants.MLMODEL_PLURAL,
        _with(_MODEL, "spec.batch", _BATCH | {"schedule": "61 * * * *"}),
        "spec.batch.schedule",
    ),
]


@pytest.mark.parametrize(
    ("plural", "body", "field"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_object_is_refused_naming_the_field(
    kube_cluster: Cluster, namespace: str, plural: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiException) as refused:
        create(kube_cluster, namespace, plural, body)
    assert refused.value.status == 422
    message = json.loads(refused.value.body)["message"]
    assert field in message, message
    # Nothing was stored.
    listed = kube_cluster.custom.list_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, plural
    )
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("cron", "named"),
    [
        ("99 * * * *", 'cron minute field "99"'),
        ("0 25 * * *", 'cron hour field "25"'),
        ("* * 0 * *", 'cron day of month field "0"'),
        ("* * * 13 *", 'cron month field "13"'),
        ("0 0 * * 8", 'cron day of week field "8"'),
        ("*/0 * * * *", 'cron minute field "*/0"'),
        ("5-2 * * * *", 'cron minute field "5-2"'),
        ("0 1,2,30 * * *", 'cron hour field "1,2,30"'),
        ("0 0 1-31/00 * *", 'cron day of month field "1-31/00"'),
        ("0 0 * * 99999999999", 'cron day of week field "99999999999"'),
    ],
)
def test_cron_out_of_range_is_refused_naming_the_field_and_value(
    kube_cluster: Cluster, namespace: str, cron: str, named: str
) -> None:
    """A cron the pattern lets through but croniter would refuse on every tick never gets in."""
    body = _with(_POLICY, "spec.triggers.schedule.cron", cron)
    with pytest.raises(ApiException) as refused:
        create(kube_cluster, namespace, constants.RETRAIN_POLICY_PLURAL, body)
    assert refused.value.status == 422
    message = json.loads(refused.value.body)["message"]
    assert "spec.triggers.schedule.cron" in message, message
    assert named in message, message


@pytest.mark.parametrize(
    "cron",
    [
        "*/15 2-4 1,15 * 1-5",
        "@daily",
        "0 0 * * 7",  # croniter reads 7 as Sunday
        "0 0 * * 0-7",
        "59 23 31 12 *",
        "0/5 0 1 1 0",
        "*/90 * * * *",  # a step past the range fires once, at the range's start
        "0\t3  * * *",  # any whitespace between the fields, as the pattern allows
    ],
)
def test_cron_within_range_is_accepted(kube_cluster: Cluster, namespace: str, cron: str) -> None:
    body = _with(_POLICY, "spec.triggers.schedule.cron", cron)
    stored = create(kube_cluster, namespace, constants.RETRAIN_POLICY_PLURAL, body)
    assert stored["spec"]["triggers"]["schedule"]["cron"] == cron

"""The operator against a real API server: conditions, observedGeneration, references,
events, kopf state in annotations, metrics."""

from __future__ import annotations

import copy
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from kopf.testing import KopfRunner

from pace.api import constants
from pace.localstack import processes
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator

SAMPLES = Path(__file__).parents[2] / "manifests" / "samples"


def sample(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((SAMPLES / name).read_text()))


def apply_sample(cluster: Cluster, namespace: str, plural: str, name: str) -> dict[str, Any]:
    """Create one of manifests/samples in the namespace; the stored object."""
    created: dict[str, Any] = cluster.custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, plural, sample(name)
    )
    return created


def get(cluster: Cluster, namespace: str, plural: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, plural, name
    )
    return obj


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}


def events_for(cluster: Cluster, namespace: str, name: str) -> list[Any]:
    return [
        e
        for e in cluster.core.list_namespaced_event(namespace).items
        if e.involved_object.name == name
    ]


def test_mlmodel_gets_first_visit_conditions(
    kube_cluster: Cluster, namespace: str, operator: KopfRunner
) -> None:
    apply_sample(kube_cluster, namespace, constants.MLMODEL_PLURAL, "mlmodel_wine.yaml")

    obj = eventually(
        lambda: (
            (o := get(kube_cluster, namespace, constants.MLMODEL_PLURAL, "wine"))
            .get("status", {})
            .get("observedGeneration")
            == 1
            and o
        ),
        what="observedGeneration 1",
    )
    conds = conditions(obj)
    assert conds["SpecValid"]["status"] == "True"
    assert conds["Trained"]["status"] == "Unknown"
    assert conds["Trained"]["reason"] == "Pending"
    assert conds["Ready"]["status"] == "False"
    assert all(c["observedGeneration"] == 1 for c in conds.values())
    assert obj["status"]["phase"] == "Pending"
    # One reconcile per object (a kopf daemon) keeps its state in status: kopf writes no
    # progress or diff-base of its own, and no finalizer: PACE puts its own on only when the
    # model first starts a run (tests/e2e/test_training_queue.py).
    annotations = obj["metadata"].get("annotations") or {}
    assert not any(k.startswith("kopf.zalando.org") for k in annotations), annotations
    assert "finalizers" not in obj["metadata"], obj["metadata"]
    assert set(obj["status"]) <= {"conditions", "observedGeneration", "phase", "auditSequence"}

    # A spec change bumps generation; the operator follows, keeping transition times.
    first_transition = conds["Trained"]["lastTransitionTime"]
    kube_cluster.custom.patch_namespaced_custom_object(
        constants.GROUP,
        constants.VERSION,
        namespace,
        constants.MLMODEL_PLURAL,
        "wine",
        {"spec": {"serving": {"replicas": 2}}},
    )
    obj = eventually(
        lambda: (
            (o := get(kube_cluster, namespace, constants.MLMODEL_PLURAL, "wine"))
            .get("status", {})
            .get("observedGeneration")
            == 2
            and o
        ),
        what="observedGeneration 2",
    )
    conds = conditions(obj)
    assert conds["Trained"]["lastTransitionTime"] == first_transition
    assert all(c["observedGeneration"] == 2 for c in conds.values() if c["type"] == "SpecValid")


def test_monitor_of_missing_model_says_so_then_recovers(
    kube_cluster: Cluster, namespace: str, operator: KopfRunner
) -> None:
    apply_sample(kube_cluster, namespace, constants.DRIFT_MONITOR_PLURAL, "driftmonitor_wine.yaml")

    obj = eventually(
        lambda: (
            "ModelFound"
            in conditions(o := get(kube_cluster, namespace, constants.DRIFT_MONITOR_PLURAL, "wine"))
            and o
        ),
        what="ModelFound condition",
    )
    found, ready = conditions(obj)["ModelFound"], conditions(obj)["Ready"]
    assert (found["status"], found["reason"]) == ("False", "ModelNotFound")
    assert (
        f"MLModel 'wine' (spec.modelRef) not found in namespace '{namespace}'" in (found["message"])
    )
    assert ready["status"] == "False"
    assert obj["status"]["observedGeneration"] == 1
    warning = eventually(
        lambda: [
            e for e in events_for(kube_cluster, namespace, "wine") if e.reason == "ModelNotFound"
        ],
        what="ModelNotFound event",
    )
    assert warning[0].type == "Warning"
    assert "not found" in warning[0].message

    # The model appears: the retry with backoff (5 s first) finds it.
    apply_sample(kube_cluster, namespace, constants.MLMODEL_PLURAL, "mlmodel_wine.yaml")
    obj = eventually(
        lambda: (
            conditions(o := get(kube_cluster, namespace, constants.DRIFT_MONITOR_PLURAL, "wine"))[
                "Ready"
            ]["status"]
            == "True"
            and o
        ),
        timeout=40,
        what="Ready=True",
    )
    assert conditions(obj)["ModelFound"]["reason"] == "ModelFound"


def test_a_monitor_applied_just_before_its_model_never_says_the_model_is_missing(
    kube_cluster: Cluster, namespace: str, operator: KopfRunner
) -> None:
    """``kubectl apply -f dir/`` order: the monitor first, its model a moment later. The
    monitor waits quietly for it (no ModelNotFound condition, no Warning event), then is Ready."""
    apply_sample(kube_cluster, namespace, constants.DRIFT_MONITOR_PLURAL, "driftmonitor_wine.yaml")
    time.sleep(2)  # the monitor's first look has happened (it is seen within a second)
    apply_sample(kube_cluster, namespace, constants.MLMODEL_PLURAL, "mlmodel_wine.yaml")
    obj = eventually(
        lambda: (
            conditions(o := get(kube_cluster, namespace, constants.DRIFT_MONITOR_PLURAL, "wine"))
            .get("Ready", {})
            .get("status")
            == "True"
            and o
        ),
        what="Ready=True",
    )
    found = conditions(obj)["ModelFound"]
    # Never False: its transition time is its first report, and there was no earlier one.
    assert (found["status"], found["reason"]) == ("True", "ModelFound")
    reasons = [e.reason for e in events_for(kube_cluster, namespace, "wine")]
    assert "ModelNotFound" not in reasons, reasons


def test_policy_checks_model_and_monitor(
    kube_cluster: Cluster, namespace: str, operator: KopfRunner
) -> None:
    apply_sample(kube_cluster, namespace, constants.MLMODEL_PLURAL, "mlmodel_wine.yaml")
    apply_sample(
        kube_cluster, namespace, constants.RETRAIN_POLICY_PLURAL, "retrainpolicy_wine.yaml"
    )
    obj = eventually(
        lambda: (
            "Ready"
            in conditions(
                o := get(kube_cluster, namespace, constants.RETRAIN_POLICY_PLURAL, "wine")
            )
            and o
        ),
        what="Ready condition",
    )
    ready = conditions(obj)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "MonitorNotFound")
    assert "DriftMonitor 'wine' (spec.triggers.drift.monitorRef)" in ready["message"]


def test_operator_survives_an_object_it_cannot_parse(
    kube_cluster: Cluster, namespace: str, operator: KopfRunner
) -> None:
    """A status the models cannot read is reported, and other objects still reconcile."""
    body = sample("mlmodel_wine.yaml")
    kube_cluster.custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body
    )
    other = copy.deepcopy(body)
    other["metadata"]["name"] = "second"
    kube_cluster.custom.create_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, other
    )
    for name in ("wine", "second"):
        eventually(
            lambda n=name: (
                get(kube_cluster, namespace, constants.MLMODEL_PLURAL, n)
                .get("status", {})
                .get("phase")
                == "Pending"
            ),
            what=f"{name} Pending",
        )


def test_metrics_endpoint_serves_reconcile_metrics(kube_cluster: Cluster, namespace: str) -> None:
    port = processes.free_port()
    with running_operator(namespace, metrics_port=port):
        apply_sample(kube_cluster, namespace, constants.MLMODEL_PLURAL, "mlmodel_wine.yaml")
        eventually(
            lambda: (
                get(kube_cluster, namespace, constants.MLMODEL_PLURAL, "wine")
                .get("status", {})
                .get("phase")
            ),
            what="phase",
        )

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return str(r.read().decode())

        text = eventually(
            lambda: (
                (t := scrape())
                and 'pace_reconcile_duration_seconds_count{kind="MLModel"}' in t
                and t
            ),
            what="reconcile metric",
        )
    assert f'pace_object_ready{{kind="MLModel",name="wine",namespace="{namespace}"}} 0.0' in text


def test_deleting_a_model_garbage_collects_what_it_owns(
    kube_cluster: Cluster, namespace: str
) -> None:
    from pace.core import labels

    model = apply_sample(kube_cluster, namespace, constants.MLMODEL_PLURAL, "mlmodel_wine.yaml")
    owner = labels.owner_reference(kind="MLModel", name="wine", uid=model["metadata"]["uid"])
    kube_cluster.core.create_namespaced_config_map(
        namespace,
        {
            "metadata": {
                "name": "wine-child",
                "ownerReferences": [owner],
                "labels": labels.model_labels("wine"),
            },
            "data": {"k": "v"},
        },
    )
    kube_cluster.custom.delete_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, "wine"
    )

    def child_gone() -> bool:
        names = [
            c.metadata.name for c in kube_cluster.core.list_namespaced_config_map(namespace).items
        ]
        return "wine-child" not in names

    eventually(child_gone, timeout=60, what="garbage collection of the owned ConfigMap")


def test_specs_naming_data_the_operator_may_not_read_are_refused_by_field(
    kube_cluster: Cluster, namespace: str, operator: KopfRunner
) -> None:
    """A confused deputy: the operator reads s3:// URIs with its own keys, so a spec may name
    only the operator's bucket (and PACE_S3_READ_BUCKETS), and there only its own namespace's
    part of PACE's data."""
    model = sample("mlmodel_wine.yaml")
    model["spec"]["dataset"]["uri"] = "s3://payroll/salaries.csv"
    monitor = sample("driftmonitor_wine.yaml")
    monitor["spec"]["reference"] = {"uri": "s3://pace/inference-logs/other-team/wine/"}
    for plural, body in (
        (constants.MLMODEL_PLURAL, model),
        (constants.DRIFT_MONITOR_PLURAL, monitor),
    ):
        kube_cluster.custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, plural, body
        )
    spec_valid = eventually(
        lambda: conditions(get(kube_cluster, namespace, constants.MLMODEL_PLURAL, "wine")).get(
            "SpecValid"
        ),
        what="the model's SpecValid",
    )
    assert (spec_valid["status"], spec_valid["reason"]) == ("False", "InvalidSpec")
    assert (
        "spec.dataset.uri: bucket 'payroll' is not one PACE reads for users"
        in (spec_valid["message"])
    )
    ready = eventually(
        lambda: (
            (c := conditions(get(kube_cluster, namespace, constants.DRIFT_MONITOR_PLURAL, "wine")))
            .get("Ready", {})
            .get("reason")
            == "InvalidSpec"
            and c["Ready"]
        ),
        what="the monitor's InvalidSpec",
    )
    assert ready["status"] == "False"
    assert (
        "spec.reference.uri: 's3://pace/inference-logs/other-team/wine/' is in PACE's "
        "inference-logs/ data of namespace 'other-team'" in ready["message"]
    )


def test_a_monitor_has_no_finalizer_and_its_loop_ends_when_it_is_deleted(
    kube_cluster: Cluster, namespace: str
) -> None:
    """Kinds with nothing to clean up carry no finalizer (no write spent on it, and deletable
    with the operator down); the watch's deletion ends their loop, and a monitor made again
    under the same name gets a loop of its own."""
    port = processes.free_port()

    def loops() -> float | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith('pace_reconcile_loops{kind="DriftMonitor"}'):
                    return float(line.rsplit(" ", 1)[1])
        return None

    def create() -> None:
        apply_sample(
            kube_cluster, namespace, constants.DRIFT_MONITOR_PLURAL, "driftmonitor_wine.yaml"
        )

    def shown() -> dict[str, Any] | None:
        obj = get(kube_cluster, namespace, constants.DRIFT_MONITOR_PLURAL, "wine")
        return obj if "ModelFound" in conditions(obj) else None

    with running_operator(namespace, metrics_port=port):
        create()
        obj = eventually(shown, what="the monitor's status")
        assert "finalizers" not in obj["metadata"], obj["metadata"]
        eventually(lambda: loops() == 1.0, what="one DriftMonitor loop", context=loops)

        kube_cluster.custom.delete_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.DRIFT_MONITOR_PLURAL, "wine"
        )
        # Gone at once (nothing holds it), and its loop ends.
        listed = kube_cluster.custom.list_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.DRIFT_MONITOR_PLURAL
        )
        assert listed["items"] == []
        eventually(lambda: loops() == 0.0, what="the deleted monitor's loop ended", context=loops)

        create()
        eventually(shown, what="the new monitor's status")
        eventually(lambda: loops() == 1.0, what="the new monitor's loop", context=loops)


def test_a_model_deleted_while_the_operator_was_down_is_cleaned_up_and_let_go(
    kube_cluster: Cluster, namespace: str
) -> None:
    """A model holding PACE's finalizer (it had started a run) and deleted while no operator
    ran waits; the operator, once up, runs its cleanup and takes off its own finalizer only:
    another controller's stays, and holds that object until it goes too."""
    for name, finalizers in (
        ("wine", [constants.FINALIZER]),
        ("shared", [constants.FINALIZER, "other.example/keep"]),
    ):
        body = sample("mlmodel_wine.yaml")
        body["metadata"] = {"name": name, "finalizers": finalizers}
        kube_cluster.custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, body
        )
        kube_cluster.custom.delete_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL, name
        )
    held = get(kube_cluster, namespace, constants.MLMODEL_PLURAL, "wine")
    assert held["metadata"].get("deletionTimestamp"), "held by the finalizer"

    def names() -> list[str]:
        listed = kube_cluster.custom.list_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, constants.MLMODEL_PLURAL
        )
        return sorted(o["metadata"]["name"] for o in listed["items"])

    with running_operator(namespace):
        eventually(lambda: names() == ["shared"], what="the held model let go")
        shared = get(kube_cluster, namespace, constants.MLMODEL_PLURAL, "shared")
        assert shared["metadata"]["finalizers"] == ["other.example/keep"]
        kube_cluster.custom.patch_namespaced_custom_object(
            constants.GROUP,
            constants.VERSION,
            namespace,
            constants.MLMODEL_PLURAL,
            "shared",
            {"metadata": {"finalizers": None}},
        )
        eventually(lambda: names() == [], what="the other controller's object gone")

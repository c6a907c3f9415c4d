"""The learning loop, with a negative control: two copies of the sample wine model take the
same labelled live traffic and the same input shift. `learner` retrains on the newest
labelled live rows (the sample's `dataset.recent`); `control` is the same spec without it.
Both drift, both policies fire, both v2 canaries pass and are promoted — but only the learner's
v2 has seen the shifted data: its DriftMonitor then reports no drift against v2's reference,
the model is Ready again and its live accuracy beats v1's on the shifted traffic, while the
control still drifts and stays Degraded.

Real servers: kube-apiserver, MinIO, Prometheus, the local serving runtime (router +
seldon-core microservices), the operator with its inference sink.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import yaml

from pace.adapters.object_store import S3Settings
from pace.demo import SHIFT, Labeller
from pace.demo import Traffic as LabelledTraffic
from pace.localstack import processes
from pace.localstack.minio import MinioInfo
from tests.e2e.test_closed_loop import create, status
from tests.e2e.test_live_quality import labelled_operator_env
from tests.e2e.test_train_and_register import SAMPLES
from tests.servers.kube_apiserver import Cluster
from tests.servers.operator import eventually, running_operator
from tests.servers.serving import ServingRuntime, running_prometheus


def sample(name: str, kind_file: str) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(yaml.safe_load((SAMPLES / kind_file).read_text()))
    body["metadata"] = {"name": name}
    if "modelRef" in body["spec"]:
        body["spec"]["modelRef"]["name"] = name
    if "drift" in body["spec"].get("triggers", {}):
        body["spec"]["triggers"]["drift"]["monitorRef"]["name"] = name
        body["spec"]["triggers"].pop("schedule", None)
        body["spec"]["cooldown"] = "10m"  # one retrain each in this test
    return body


def condition(st: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in st.get("conditions", []) if c["type"] == type_), {})


def test_retraining_on_labelled_live_rows_clears_drift_and_the_control_does_not(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    serving: ServingRuntime,
    tmp_path: Path,
) -> None:
    metrics_port, sink_port = processes.free_port(), processes.free_port()
    prom = running_prometheus(
        tmp_path / "prom",
        {"router": serving.metrics_target, "operator": f"127.0.0.1:{metrics_port}"},
    )
    env = labelled_operator_env(
        kube_cluster, namespace, minio_server, s3_settings, serving, tmp_path, next(prom), sink_port
    )
    names = ("learner", "control")
    running: list[Any] = []
    try:
        with running_operator(namespace, metrics_port=metrics_port, env_extra=env):
            for name in names:
                model = sample(name, "mlmodel_wine.yaml")
                if name == "control":
                    del model["spec"]["dataset"]["recent"]
                create(kube_cluster, namespace, model)
                create(kube_cluster, namespace, sample(name, "driftmonitor_wine.yaml"))
                create(kube_cluster, namespace, sample(name, "retrainpolicy_wine.yaml"))
            for name in names:
                eventually(
                    lambda n=name: (
                        status(kube_cluster, namespace, "MLModel", n).get("servingVersion") == "v1"
                    ),
                    timeout=300,
                    interval=1,
                    what=f"{name} v1 serving",
                )
            traffics = {}
            for name in names:
                url = f"{serving.url}/seldon/{namespace}/{name}/api/v1.0/predictions"
                traffic = LabelledTraffic(url)
                labeller = Labeller(
                    traffic, f"http://127.0.0.1:{sink_port}/labels/{namespace}/{name}"
                )
                traffic.start()
                labeller.start()
                running += [traffic, labeller]
                traffics[name] = traffic

            def v1_live(name: str) -> float | None:
                st = status(kube_cluster, namespace, "MLModel", name)
                v1 = next(v for v in st["versions"] if v["version"] == "v1")
                live = v1.get("live") or {}
                return live["metrics"]["accuracy"] if live.get("rows", 0) >= 100 else None

            before = {
                name: eventually(
                    lambda n=name: v1_live(n), timeout=120, interval=1, what=f"{name} v1 live"
                )
                for name in names
            }
            for traffic in traffics.values():
                traffic.shift = SHIFT
            shifted_at = time.monotonic()

            def promoted_v2(name: str) -> dict[str, Any] | None:
                """The learner's v2 must be promoted; the control's may be promoted or rolled
                back (the router's split sends each predictor a fixed subset of the cycled
                rows, so two equal models can differ on their subsets)."""
                st = status(kube_cluster, namespace, "MLModel", name)
                stages = {v["version"]: v["stage"] for v in st.get("versions", [])}
                done = ("production",) if name == "learner" else ("production", "rejected")
                return st if stages.get("v2") in done else None

            for name in names:
                try:
                    eventually(
                        lambda n=name: promoted_v2(n), timeout=420, interval=2, what=f"{name} v2"
                    )
                except AssertionError as exc:
                    st = status(kube_cluster, namespace, "MLModel", name)
                    policy = status(kube_cluster, namespace, "RetrainPolicy", name)
                    raise AssertionError(f"{exc}\nmodel: {st}\npolicy: {policy}") from None
            print(f"both v2 promoted {time.monotonic() - shifted_at:.0f}s after the shift")

            def settled(name: str) -> dict[str, Any] | None:
                monitor = status(kube_cluster, namespace, "DriftMonitor", name)
                serving = status(kube_cluster, namespace, "MLModel", name)["servingVersion"]
                if monitor.get("referenceVersion") != serving or monitor.get("lastCheck") is None:
                    return None
                return monitor

            try:
                learner_monitor = eventually(
                    lambda: (m := settled("learner")) and m.get("driftDetected") is False and m,
                    timeout=120,
                    interval=1,
                    what="learner: no drift against v2's reference",
                )
            except AssertionError as exc:
                monitor = status(kube_cluster, namespace, "DriftMonitor", "learner")
                versions = status(kube_cluster, namespace, "MLModel", "learner")["versions"]
                raise AssertionError(f"{exc}\nmonitor: {monitor}\nversions: {versions}") from None
            control_monitor = eventually(
                lambda: (m := settled("control")) and m.get("driftDetected") is True and m,
                timeout=120,
                interval=1,
                what="control: drift against its serving version's reference",
            )
            learner = eventually(
                lambda: (
                    (st := status(kube_cluster, namespace, "MLModel", "learner"))
                    and condition(st, "Ready").get("status") == "True"
                    and st.get("phase") == "Serving"
                    and st
                ),
                timeout=60,
                interval=1,
                what="learner Ready and Serving",
            )
            control = status(kube_cluster, namespace, "MLModel", "control")
            v2_learner = next(v for v in learner["versions"] if v["version"] == "v2")
            v2_control = next(v for v in control["versions"] if v["version"] == "v2")
            # What each v2 learned from.
            assert v2_learner["recentRows"] == 120
            assert v2_learner["dataNote"] == "trained on 120 recent rows alone (mode replace)"
            assert v2_control.get("recentRows") is None  # trained on the base data alone
            # After the shift: v1 (serving then) fell; the learner's v2 is better on the same
            # shifted traffic; the control's v2 is no better than its v1 was.
            after_learner = eventually(
                lambda: (
                    (
                        v := next(
                            x
                            for x in status(kube_cluster, namespace, "MLModel", "learner")[
                                "versions"
                            ]
                            if x["version"] == "v2"
                        ).get("live")
                    )
                    and v["rows"] >= 100
                    and v["metrics"]["accuracy"]
                ),
                timeout=60,
                interval=1,
                what="learner v2 live accuracy",
            )
            v1_after = next(v for v in learner["versions"] if v["version"] == "v1")["live"]
            print(
                f"learner v1 live before shift {before['learner']:.3f}, after "
                f"{v1_after['metrics']['accuracy']:.3f}; v2 {after_learner:.3f}; "
                f"control drift share {control_monitor.get('shareDrifted')}, learner "
                f"{learner_monitor.get('shareDrifted')}"
            )
            assert v1_after["metrics"]["accuracy"] < before["learner"]
            assert after_learner > v1_after["metrics"]["accuracy"]
            assert control_monitor["driftDetected"] is True
            assert status(kube_cluster, namespace, "MLModel", "control")["phase"] == "Degraded"
    finally:
        for thread in running:
            thread.stop.set()
        prom.close()

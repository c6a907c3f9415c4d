"""`make demo`: bring up the local stack, apply the samples, and show the closed loop as it
happens, learning from labelled traffic: v1 trained and served → live traffic whose labels
arrive a second later (the demo knows the truth of every wine row) → v1's live accuracy →
inputs shifted → v1's live accuracy falls and the DriftMonitor flags drift → the RetrainPolicy
fires → v2 trained on the newest labelled live rows (``dataset.recent``), gated, canaried under
the traffic and judged against v1 on live labels (the statistic printed) → promoted → the
DriftMonitor finds no drift against v2's reference, the model is Ready again and its live
accuracy restored. Then a summary (versions, the audit trail as `pace history` prints it,
kubectl's view) and PNG charts drawn from Prometheus (drift p-values, canary weight, metrics
per version, live accuracy per version) in ``demo-output/`` (``$PACE_DEMO_OUT``). The stack is
torn down at the end or on Ctrl-C, leaving no process behind.
"""

from __future__ import annotations

import collections
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pace.adapters import kube_api
from pace.localstack import stack

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"
TRAIN_TIMEOUT = 600.0


class Traffic(threading.Thread):
    """Sends wine rows to the endpoint; counts answers per predictor; keeps each answered
    prediction's puid with the row's true class for the labeller."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        from sklearn.datasets import load_wine

        wine = load_wine()
        self.url, self.rows, self.truth = url, wine.data.tolist(), wine.target.tolist()
        self.stop, self.lock = threading.Event(), threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()
        self.shift: dict[int, float] = {}
        self.unlabelled: list[dict[str, Any]] = []

    def order(self) -> Iterator[int]:
        """Row numbers in a new random order at every pass over the dataset (seeded): live
        traffic is not sorted by class, as the dataset is, so a window of it is a sample."""
        shuffler = random.Random(7)
        while True:
            numbers = list(range(len(self.rows)))
            shuffler.shuffle(numbers)
            yield from numbers

    def run(self) -> None:
        for i in self.order():
            if self.stop.is_set():
                break
            row = [v * self.shift.get(j, 1.0) for j, v in enumerate(self.rows[i])]
            body = json.dumps({"data": {"ndarray": [row]}}).encode()
            request = urllib.request.Request(
                self.url, data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    key = f"{resp.headers.get('X-Seldon-Predictor')}:{resp.status}"
                    puid = json.loads(resp.read()).get("meta", {}).get("puid")
                if puid:
                    label = {"id": puid, "truth": self.truth[i]}
                    with self.lock:
                        self.unlabelled.append(label)
            except urllib.error.HTTPError as err:
                key = f"{err.headers.get('X-Seldon-Predictor')}:{err.code}"
            except OSError:
                key = "unreachable"
            with self.lock:
                self.counts[key] += 1
            time.sleep(0.02)

    def summary(self) -> str:
        with self.lock:
            return ", ".join(f"{k} x{v}" for k, v in sorted(self.counts.items())) or "none"

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()

    def take_labels(self) -> list[dict[str, Any]]:
        with self.lock:
            taken, self.unlabelled = self.unlabelled, []
        return taken


class Labeller(threading.Thread):
    """Posts the truth of the answered predictions to the sink's labels API once a second,
    as a delayed labelling process would."""

    def __init__(self, traffic: Traffic, url: str, token: str | None = None) -> None:
        super().__init__(daemon=True)
        self.traffic, self.url, self.token = traffic, url, token
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.stop.wait(1.0):
            labels = self.traffic.take_labels()
            if not labels:
                continue
            body = json.dumps({"labels": labels}).encode()
            request = urllib.request.Request(
                self.url,
                data=body,
                headers={"Content-Type": "application/json"}
                | ({"Authorization": f"Bearer {self.token}"} if self.token else {}),
            )
            try:
                with urllib.request.urlopen(request, timeout=10):
                    self.sent += len(labels)
            except OSError:
                with self.traffic.lock:  # the sink is busy: send them with the next batch
                    self.traffic.unlabelled[:0] = labels


class Demo:
    """Prints timestamped stages against one running stack."""

    def __init__(self, state: stack.StackState, started: float) -> None:
        self.state, self.started = state, started

    def labeller_token(self, namespace: str) -> str:
        """A token of the ServiceAccount `labeller` in ``namespace`` (created if needed): the
        sink lets it post labels for that namespace only (TokenReview)."""
        kube = kube_api.KubeApi(kube_api.load_client(self.state.kubeconfig))
        return kube.service_account_token(namespace, "labeller", seconds=7200)

    def kubectl(self, *args: str) -> str:
        env = {**os.environ, "KUBECONFIG": self.state.kubeconfig}
        result = subprocess.run(
            [self.state.kubectl, *args], env=env, capture_output=True, text=True, check=True
        )
        return result.stdout

    def stage(self, text: str) -> None:
        print(f"\n[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def model(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.kubectl("get", "mlmodel", name, "-o", "json"))
        return loaded

    def live(self, name: str) -> str:
        """The model's live quality as kubectl shows it (LIVE column)."""
        status = self.model(name).get("status", {})
        return str((status.get("liveQuality") or {}).get("summary") or "no labelled rows yet")

    def follow_drift(self, name: str, *, until: bool) -> None:
        """Print each DriftMonitor verdict (and the live accuracy) until driftDetected equals
        ``until``."""
        seen = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            raw = json.loads(self.kubectl("get", "driftmonitor", name, "-o", "json"))
            status = raw.get("status", {})
            cond = {c["type"]: c for c in status.get("conditions", [])}.get("DriftDetected")
            if cond and (cond["message"], status.get("lastCheck")) != seen:
                seen = (cond["message"], status.get("lastCheck"))
                self.stage(
                    f"drift check: {cond['reason']}: {cond['message']} | live {self.live(name)}"
                )
            if status.get("driftDetected") is until:
                return
            time.sleep(2)
        raise TimeoutError("no drift verdict")

    def wait_live(self, name: str, version: str, rows: int = 100) -> None:
        """Until ``version`` has live figures over at least ``rows`` labelled predictions."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            versions = self.model(name).get("status", {}).get("versions", [])
            live = next((v.get("live") for v in versions if v["version"] == version), None)
            if live and live.get("rows", 0) >= rows:
                return
            time.sleep(1)
        raise TimeoutError(f"no live figures for {name} {version}")

    def wait_serving(self, name: str, version: str) -> dict[str, Any]:
        """Until ``version`` serves and the model is Ready (Seldon's status says its predictor
        answers), so the first request succeeds."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = dict(self.model(name).get("status", {}))
            ready = {c["type"]: c for c in status.get("conditions", [])}.get("Ready", {})
            if status.get("servingVersion") == version and ready.get("status") == "True":
                return status
            time.sleep(0.5)
        raise TimeoutError(f"{name} {version} did not start serving")

    def follow_canary(self, name: str, traffic: Traffic) -> None:
        """Print each canary step (weights from status, split from real traffic)."""
        seen = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = self.model(name).get("status", {})
            canary = status.get("canary") or {}
            cond = {c["type"]: c for c in status.get("conditions", [])}.get("CanaryHealthy", {})
            now = (canary.get("weight"), cond.get("reason"))
            if now != seen:
                seen = now
                self.stage(
                    f"canary {status.get('candidateVersion') or ''} weight "
                    f"{canary.get('weight', '-')} %: {cond.get('message', '')} "
                    f"| traffic {traffic.summary()}"
                )
                live = canary.get("live")
                if live:
                    print(f"         {_gate_text(live)}", flush=True)
                traffic.reset()
            if not status.get("candidateVersion") and cond.get("reason") in (
                "Promoted",
                "RolledBack",
            ):
                return
            time.sleep(1)
        raise TimeoutError("the canary did not finish")

    def wait_trigger(self, name: str) -> dict[str, Any]:
        """The RetrainPolicy's first firing (printing why it holds meanwhile)."""
        seen = None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            raw = json.loads(self.kubectl("get", "retrainpolicy", name, "-o", "json"))
            status = raw.get("status", {})
            if status.get("lastTrigger"):
                return dict(status["lastTrigger"])
            if status.get("holding") != seen:
                seen = status.get("holding")
                self.stage(f"RetrainPolicy {name}: {seen}")
            time.sleep(1)
        raise TimeoutError("the RetrainPolicy did not fire")

    def summary(self, status: dict[str, Any]) -> None:
        from pace.core import tables

        self.stage("versions of wine (status.versions)")
        rows = [
            [
                v["version"],
                v["stage"],
                ", ".join(f"{k}={x:.3f}" for k, x in sorted(v["metrics"].items())[:2]),
                _live_text(v.get("live")),
                (v.get("dataNote") or "")[:48],
                (v.get("trigger") or "")[:40],
            ]
            for v in status.get("versions", [])
        ]
        header = ("VERSION", "STAGE", "OFFLINE", "LIVE", "DATA", "TRIGGER")
        print(tables.format_table(header, rows), end="")
        self.stage("audit trail: pace history wine (one write-once object per event in MinIO)")
        print(self.pace("history", "wine"), end="")
        self.stage("what kubectl shows: kubectl get pace -o wide")
        print(self.kubectl("get", "pace", "-o", "wide"), end="")

    def pace(self, *args: str) -> str:
        env = {**os.environ, "KUBECONFIG": self.state.kubeconfig}
        env["PACE_S3_ENDPOINT"] = self.state.urls["minio"].removeprefix("http://")
        env["PACE_S3_CREDENTIALS_SECRET"] = f"{stack.SYSTEM_NAMESPACE}/{stack.S3_SECRET}"
        result = subprocess.run(
            [sys.executable, "-m", "pace.cli", *args], env=env, capture_output=True, text=True
        )
        return result.stdout + result.stderr

    def charts(self, since: float) -> None:
        from pace import demo_report
        from pace.adapters.prometheus_api import PrometheusApi

        self.stage(f"charts from Prometheus -> {OUT_DIR}")
        made = demo_report.charts(
            PrometheusApi(self.state.urls["prometheus"]),
            namespace="default",
            model="wine",
            monitor="wine",
            start=since,
            end=time.time(),
            out_dir=OUT_DIR,
            threshold=0.01,  # the sample DriftMonitor's pValue
        )
        print(demo_report.charts_table(made), end="")

    def follow_training(self, name: str, run_prefix: str = "") -> dict[str, Any]:
        """Print each step of the model's training run until it ends."""
        seen = None
        deadline = time.monotonic() + TRAIN_TIMEOUT
        while time.monotonic() < deadline:
            status = self.model(name).get("status", {})
            training = status.get("training") or {}
            if not training.get("run", "").startswith(run_prefix):
                time.sleep(1)
                continue
            now = (training.get("state"), training.get("step"))
            if training and now != seen:
                seen = now
                step = f" step {training['step']}" if training.get("step") else ""
                self.stage(f"run {training['run']}: {training['state']}{step}")
            if training.get("state") in ("Succeeded", "Failed"):
                return dict(status)
            time.sleep(1)
        raise TimeoutError(f"training of {name} did not finish in {TRAIN_TIMEOUT:.0f}s")


def _gate_text(live: dict[str, Any]) -> str:
    """The live gate's verdict on one line (status.canary.live)."""

    def number(key: str) -> str:
        value = live.get(key)
        return "-" if value is None else f"{value:.3g}"

    return (
        f"live gate {live.get('verdict')}: canary {live.get('metric')} {number('canary')} "
        f"(n={live.get('rowsCanary', 0)}) vs main {number('main')} "
        f"(n={live.get('rowsMain', 0)}); statistic {number('statistic')}, "
        f"p {number('pValue')}"
    )


def _live_text(live: dict[str, Any] | None) -> str:
    if not live:
        return "-"
    metrics = live.get("metrics") or {}
    name = "accuracy" if "accuracy" in metrics else next(iter(metrics), "")
    return f"{name} {metrics.get(name, 0):.3f} n={live.get('rows', 0)}" if name else "-"


OUT_DIR = Path(os.environ.get("PACE_DEMO_OUT", Path.cwd() / "demo-output"))
SHIFT = {0: 1.3, 9: 1.3, 12: 1.3}  # alcohol, color_intensity, proline up by 30 %


def main() -> int:
    started, wall_start = time.monotonic(), time.time()
    print(
        "[   0.0s] starting the local stack (control plane, CRDs, MinIO, Prometheus, "
        "serving runtime, operator)",
        flush=True,
    )
    state = stack.up()
    demo = Demo(state, started)
    traffic: Traffic | None = None
    labeller: Labeller | None = None
    learned = False
    try:
        demo.stage(
            f"applying {SAMPLES.relative_to(SAMPLES.parents[1])}/ "
            "(MLModel, DriftMonitor, RetrainPolicy for wine)"
        )
        print(demo.kubectl("apply", "-f", str(SAMPLES)), end="")
        demo.stage("training wine v1: the operator compiled a KFP pipeline and runs it locally")
        demo.follow_training("wine")
        status = demo.wait_serving("wine", "v1")
        demo.stage(f"v1 serves 100 % (nothing served before) at {status['endpoint']}")
        traffic = Traffic(status["endpoint"])
        traffic.start()
        labeller = Labeller(
            traffic,
            f"{state.urls['inference-sink'].rstrip('/')}/labels/default/wine",
            demo.labeller_token("default"),
        )
        labeller.start()
        demo.stage(
            "live traffic -> router -> inference log (MinIO); each answer's label follows a "
            "second later (labels API); the DriftMonitor checks the inputs"
        )
        demo.follow_drift("wine", until=False)
        demo.wait_live("wine", "v1")
        demo.stage(f"v1 on labelled live traffic: {demo.live('wine')}")
        demo.stage("shifting the live inputs: alcohol, color_intensity and proline up by 30 %")
        traffic.shift = SHIFT
        demo.follow_drift("wine", until=True)
        trigger = demo.wait_trigger("wine")
        demo.stage(f"RetrainPolicy wine fired ({trigger['request']}): {trigger['reason']}")
        demo.stage(f"v1 live now: {demo.live('wine')}")
        status = demo.follow_training("wine", run_prefix="wine-v2")
        v2: dict[str, Any] = next(
            (v for v in status.get("versions", []) if v["version"] == "v2"), {}
        )
        demo.stage(f"v2: {v2.get('dataNote') or 'no recent rows'}")
        if v2.get("stage") == "rejected":
            gates = {c["type"]: c for c in status.get("conditions", [])}.get("Validated", {})
            demo.stage(f"v2 was not rolled out: {gates.get('message')}; v1 keeps serving")
        else:
            traffic.reset()
            demo.follow_canary("wine", traffic)
        status = demo.model("wine").get("status", {})
        demo.stage(f"{status.get('servingVersion')} serves 100 %")
        if status.get("servingVersion") == "v2":
            demo.follow_drift("wine", until=False)
            ready = demo.wait_serving("wine", "v2")
            demo.wait_live("wine", "v2")
            demo.stage(
                f"no drift against v2's reference, phase {ready.get('phase')}; "
                f"live {demo.live('wine')}: the loop is closed"
            )
            learned = True
        else:
            demo.stage(f"the loop did not close: v1 still serves, live {demo.live('wine')}")
        traffic.stop.set()
        labeller.stop.set()
        demo.summary(demo.model("wine").get("status", {}))
        demo.charts(wall_start)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        if traffic is not None:
            traffic.stop.set()
        if labeller is not None:
            labeller.stop.set()
        demo.stage("stopping the local stack")
        stack.down()
    print(f"\ndemo finished in {time.monotonic() - started:.1f}s (wall time)")
    return 0 if learned else 1


if __name__ == "__main__":
    sys.exit(main())

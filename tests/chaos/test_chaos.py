"""Chaos trials (`make chaos`): the operator is SIGKILLed at random moments (every trial meets
at least one), MinIO and Prometheus stop answering for a while, MinIO crashes and comes back,
kube-apiserver is killed and restarted, across training, canary steps, retrain firing and
manual promote/rollback; afterwards every trial's invariants are checked
(`tests.chaos.invariants`) from what the servers stored.

A trial is one MLModel in one of five scenarios: ``train`` (v1 only), ``canary`` (a retrain
request, then a canary promoted by its checks), ``rollback`` (a paused canary rolled back by
``mlops.pace.dev/action``), ``promote`` (a retrain held for ``action: promote``) and
``policy`` (a RetrainPolicy's newData trigger fires, then a canary). A few run at once, so
each fault lands in some trial's training, some other's canary, etc.; where each landed is
recorded. Seeded (``PACE_CHAOS_SEED``) and repeatable in its schedule: the scenario order and
the fault times come from the seed, the servers' own timing does the rest.

Real servers: kube-apiserver, MinIO, Prometheus (Debian), the serving runtime, the operator as
``python -m pace`` (a process that can be killed). Figures go to tests/bench/results/chaos.json.
``PACE_CHAOS_TRIALS`` (default 50), ``PACE_CHAOS_CONCURRENT`` (4).
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from sklearn.datasets import load_wine

from pace.adapters.object_store import ObjectStore, S3Settings
from pace.api import constants
from pace.localstack import controlplane, minio, processes, stack
from pace.localstack.minio import MinioInfo
from tests.bench import results
from tests.chaos import invariants
from tests.e2e.test_train_and_register import operator_env, wine
from tests.servers.kube_apiserver import Cluster
from tests.servers.serving import ServingRuntime, running_prometheus

SCENARIOS = ("train", "canary", "rollback", "promote", "policy")
TRIALS = int(os.environ.get("PACE_CHAOS_TRIALS", "50"))
SEED = int(os.environ.get("PACE_CHAOS_SEED", "1"))
CONCURRENT = int(os.environ.get("PACE_CHAOS_CONCURRENT", "4"))
TRIAL_DEADLINE = 420.0  # seconds for one trial, faults included
FAULT_GAP = (10.0, 30.0)  # seconds between faults (an operator start takes 5-10 s here)
KILL_AFTER = (1.0, 8.0)  # each trial meets an operator SIGKILL this long after it starts
BUSY_FAULT = 30.0  # seconds another fault can hold the injector (a pause, a restart)
FAULT_WEIGHTS = {  # the faults at FAULT_GAP besides each trial's own SIGKILL
    "operator SIGKILL": 4,
    "MinIO unresponsive": 1,
    "MinIO down": 2,
    "Prometheus unresponsive": 1,
    "kube-apiserver restart": 2,
}
RETRAIN = f"{constants.GROUP}/retrain"
ACTION = f"{constants.GROUP}/action"
# Every canary check asks Prometheus (so a stopped Prometheus holds the canary); it passes
# whenever Prometheus answers.
ALWAYS = [{"name": "prometheus-answers", "query": "vector(1)", "min": 0.5}]


@dataclass
class Trial:
    number: int
    scenario: str
    name: str = ""
    phase: str = "created"
    started: float = 0.0
    acted: set[str] = field(default_factory=set)
    done: bool = False
    failure: str | None = None
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    kill_after: float = 5.0  # seconds: by then it has met an operator SIGKILL (seeded)
    ended: float = 0.0

    def __post_init__(self) -> None:
        self.name = f"t{self.number:03d}-{self.scenario}"


def body(trial: Trial) -> dict[str, Any]:
    canary: dict[str, Any] = {
        "steps": [50, 100],
        "interval": "2s",
        "maxFailedChecks": 1,
        "analysis": ALWAYS,
        "progressDeadline": "10m",
    }
    if trial.scenario == "rollback":
        canary["paused"] = True  # it holds at 50 % until the rollback
    spec = wine(
        trial.name,
        training={"algorithm": "logistic_regression", "validation": {"seed": trial.number}},
        serving={"canary": canary},
    )
    spec["spec"]["qualityGates"] = {"metrics": [{"metric": "accuracy", "min": 0.8}]}
    return spec


class Cluster_:
    """The few API calls the driver makes."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.custom, self.namespace = cluster.custom, namespace

    def create(self, plural: str, obj: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, self.namespace, plural, obj
        )

    def model(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            constants.GROUP, constants.VERSION, self.namespace, constants.MLMODEL_PLURAL, name
        )
        return found

    def annotate(self, name: str, key: str, value: str) -> None:
        self.custom.patch_namespaced_custom_object(
            constants.GROUP,
            constants.VERSION,
            self.namespace,
            constants.MLMODEL_PLURAL,
            name,
            {"metadata": {"annotations": {key: value}}},
        )

    def sdep(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.custom.get_namespaced_custom_object(
                "machinelearning.seldon.io", "v1", self.namespace, "seldondeployments", name
            )
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def delete(self, plural: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                constants.GROUP, constants.VERSION, self.namespace, plural, name
            )
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise


def expected_stages(scenario: str) -> dict[str, str]:
    return {
        "train": {"v1": "production"},
        "canary": {"v1": "archived", "v2": "production"},
        "policy": {"v1": "archived", "v2": "production"},
        "promote": {"v1": "archived", "v2": "production"},
        "rollback": {"v1": "production", "v2": "rejected"},
    }[scenario]


def advance(trial: Trial, api: Cluster_, store: ObjectStore) -> None:
    """One look at a trial: act when its model reached the next point, note its phase."""
    status = api.model(trial.name).get("status") or {}
    serving, candidate = status.get("servingVersion"), status.get("candidateVersion")
    stages = {v["version"]: v["stage"] for v in status.get("versions") or []}
    training = (status.get("training") or {}).get("state")
    if serving is None:
        trial.phase = f"training v1 ({training or 'not started'})"
        return
    if trial.scenario == "train":
        trial.phase, trial.done = "done", stages == expected_stages("train")
        return
    if serving == "v1" and "v2" not in stages and not trial.acted:
        request: dict[str, Any] = {"id": f"{trial.name}-r1", "reason": "chaos trial"}
        if trial.scenario == "promote":
            request["autoPromote"] = False
        if trial.scenario == "policy":
            upload_new_rows(store, trial)
        else:
            api.annotate(trial.name, RETRAIN, json.dumps(request))
        trial.acted.add("retrain")
        trial.phase = "retrain requested"
        return
    canary = status.get("canary")
    if candidate == "v2" and canary is not None:
        trial.phase = f"canary at {canary.get('weight')} %"
        if trial.scenario == "rollback" and "rollback" not in trial.acted:
            api.annotate(trial.name, ACTION, "rollback")
            trial.acted.add("rollback")
        return
    if candidate == "v2" and stages.get("v2") == "candidate":
        trial.phase = "awaiting promotion"
        if trial.scenario == "promote" and "promote" not in trial.acted:
            api.annotate(trial.name, ACTION, "promote")
            trial.acted.add("promote")
        return
    if "v2" not in stages:
        trial.phase = f"training v2 ({training or 'not started'})"
        return
    if candidate is None and stages == expected_stages(trial.scenario):
        trial.phase, trial.done = "done", True


def upload_new_rows(store: ObjectStore, trial: Trial) -> None:
    frame = load_wine(as_frame=True).frame.sample(n=60, random_state=trial.number)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    store.put(f"incoming/{trial.name}/rows.parquet", buf.getvalue())


def check(trial: Trial, api: Cluster_, store: ObjectStore, pipeline_dir: Path) -> list[str]:
    """Every invariant of one finished trial, from what the servers stored."""
    model = api.model(trial.name)
    ns = api.namespace
    registry = invariants.registry_versions(store.list(f"models/{ns}/{trial.name}/"))
    records = [
        json.loads(store.get(k))
        for k in store.list(f"audit/{ns}/{trial.name}/")
        if k.endswith(".json")
    ]
    records.sort(key=lambda r: (str(r.get("time")), int(r.get("sequence") or 0)))
    run_root = pipeline_dir / "runs" / ns
    folders = [p.name for p in run_root.iterdir()] if run_root.is_dir() else []
    return [
        *invariants.versions(model, registry),
        *invariants.runs(trial.name, folders, records),
        *invariants.audit_once(trial.name, records),
        *invariants.promotions(trial.name, records),
        *invariants.deployment(model, api.sdep(trial.name)),
        *invariants.stages(model, expected_stages(trial.scenario)),
    ]


class Faults:
    """Injects one fault at a time, at seeded moments, until stopped; notes where each landed
    (the phase of every trial running then)."""

    def __init__(
        self,
        rng: random.Random,
        start_operator: Any,
        store: minio.MinioInfo,
        prom_pid: int,
        plane: controlplane.ControlPlaneInfo | None,
    ):
        self.rng, self.start_operator = rng, start_operator
        self.store, self.prom_pid, self.plane = store, prom_pid, plane
        self.operator = start_operator()
        self.stop = threading.Event()
        self.idle = threading.Event()  # set once the last fault is over
        self.errors: list[str] = []  # a fault the harness failed to inject or undo
        self.lock = threading.Lock()
        self.active: list[Trial] = []
        self.landed: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()

    def run(self) -> None:
        """A fault every FAULT_GAP seconds; sooner, and an operator SIGKILL, when a trial has
        run its `kill_after` seconds without meeting one, so every trial meets the operator's
        death however fast it is."""
        due = time.monotonic() + self.rng.uniform(*FAULT_GAP)
        while not self.stop.wait(0.5):
            now = time.monotonic()
            with self.lock:
                unkilled = any(
                    t.faults["operator SIGKILL"] == 0 and now - t.started >= t.kill_after
                    for t in self.active
                )
            if now < due and not unkilled:
                continue
            kind = (
                "operator SIGKILL"
                if unkilled
                else self.rng.choices(list(FAULT_WEIGHTS), weights=list(FAULT_WEIGHTS.values()))[0]
            )
            try:
                self.inject(kind)
            except Exception as exc:  # reported by the test, not lost with the thread
                self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            due = time.monotonic() + self.rng.uniform(*FAULT_GAP)
        self.idle.set()
        # The servers this thread restarted die with it (PR_SET_PDEATHSIG follows the thread
        # that forked them): it stays parked until the session's end takes them all down.
        threading.Event().wait()

    def inject(self, kind: str) -> None:
        with self.lock:
            for trial in self.active:
                trial.faults[kind] += 1
                self.landed[f"{kind} during {_phase_kind(trial.phase)}"] += 1
        self.counts[kind] += 1
        if kind == "operator SIGKILL":
            os.kill(self.operator.pid, signal.SIGKILL)
            while processes.pid_alive(self.operator.pid):
                time.sleep(0.05)
            if self.rng.random() < 0.3:
                time.sleep(self.rng.uniform(0.5, 3.0))
            self.operator = self.start_operator()
        elif kind == "MinIO down":  # crashed: connections refused until it is back
            os.kill(self.store.pid, signal.SIGKILL)
            processes.stop(self.store.pid, grace=1.0)
            time.sleep(self.rng.uniform(2.0, 8.0))
            self.store = minio.restart(self.store)
        elif kind == "kube-apiserver restart":
            if self.plane is not None:
                controlplane.restart_apiserver(self.plane)
        else:  # paused: connections accepted, never answered
            pid = self.store.pid if kind.startswith("MinIO") else self.prom_pid
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(self.rng.uniform(2.0, 8.0))
            finally:
                os.kill(pid, signal.SIGCONT)


def _phase_kind(phase: str) -> str:
    return (
        phase.split(" (")[0]
        .replace("canary at 50 %", "canary")
        .replace("canary at 100 %", "canary")
    )


@pytest.mark.timeout(7200)
def test_invariants_hold_under_random_faults(
    kube_cluster: Cluster,
    namespace: str,
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    serving: ServingRuntime,
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    scenarios = [SCENARIOS[i % len(SCENARIOS)] for i in range(TRIALS)]
    rng.shuffle(scenarios)
    trials = [Trial(i + 1, s, kill_after=rng.uniform(*KILL_AFTER)) for i, s in enumerate(scenarios)]
    prom = running_prometheus(tmp_path / "prom", {"router": serving.metrics_target})
    prom_info = next(prom)
    pipeline_dir = tmp_path / "pipelines"
    env = operator_env(kube_cluster, namespace, minio_server, s3_settings, pipeline_dir)
    env |= {
        "PACE_WATCH_NAMESPACES": namespace,
        "PACE_PROMETHEUS_URL": prom_info.url,
        "PACE_SERVING_GATEWAY": serving.url,
    }
    store = ObjectStore(s3_settings)
    store.ensure_bucket()
    api = Cluster_(kube_cluster, namespace)
    started = time.monotonic()

    def start_operator() -> processes.Server:
        server, _, _ = stack.start_operator(
            kubeconfig=kube_cluster.kubeconfig,
            workdir=tmp_path,
            die_with_parent=True,
            env_extra=env,
        )
        return server

    faults = Faults(rng, start_operator, minio_server, prom_info.pid, kube_cluster.plane)
    injector = threading.Thread(target=faults.run, daemon=True)
    injector.start()
    waiting, running, finished = list(trials), [], []
    try:
        while waiting or running:
            while waiting and len(running) < CONCURRENT:
                trial = waiting.pop(0)
                api.create(constants.MLMODEL_PLURAL, body(trial))
                if trial.scenario == "policy":
                    api.create(constants.RETRAIN_POLICY_PLURAL, new_data_policy(trial, s3_settings))
                trial.started = time.monotonic()
                running.append(trial)
                with faults.lock:
                    faults.active.append(trial)
            time.sleep(0.5)
            for trial in list(running):
                try:
                    advance(trial, api, store)
                except Exception:  # a server paused by a fault: look again
                    continue
                late = time.monotonic() - trial.started > TRIAL_DEADLINE
                if not (trial.done or late):
                    continue
                if late and not trial.done:
                    trial.failure = f"did not finish in {TRIAL_DEADLINE:.0f}s ({trial.phase})"
                trial.ended = time.monotonic()
                with faults.lock:
                    faults.active.remove(trial)
                running.remove(trial)
                finished.append(trial)
                trial.violations = settled_check(trial, api, store, pipeline_dir)
                api.delete(constants.RETRAIN_POLICY_PLURAL, trial.name)
                api.delete(constants.MLMODEL_PLURAL, trial.name)
                print(
                    f"[{time.monotonic() - started:6.1f}s] {trial.name}: "
                    f"{'FAILED ' + trial.failure if trial.failure else 'finished'}; faults "
                    f"{dict(trial.faults)}; violations {trial.violations}",
                    flush=True,
                )
    finally:
        faults.stop.set()
        faults.idle.wait(timeout=60)
        next(prom, None)
        processes.stop(faults.operator.pid)

    passed = [t for t in trials if not t.failure and not t.violations]
    per_fault = {
        kind: _ratio(passed, trials, lambda t, k=kind: t.faults[k] > 0)
        for kind in sorted(faults.counts)
    }
    per_scenario = {s: _ratio(passed, trials, lambda t, s=s: t.scenario == s) for s in SCENARIOS}
    results.record(
        "chaos",
        {
            "seed": SEED,
            "trials": len(trials),
            "trials passed": len(passed),
            "faults injected": dict(faults.counts),
            "trials passed / total, by fault they met": per_fault,
            "trials passed / total, by scenario": per_scenario,
            "where the faults landed": dict(sorted(faults.landed.items())),
            "wall seconds": round(time.monotonic() - started, 1),
        },
    )
    problems = [
        f"{t.name}: {t.failure or ''} {'; '.join(t.violations)}".strip()
        for t in trials
        if t.failure or t.violations
    ]
    assert problems == []
    assert faults.errors == []
    # Every trial that outlasted its kill_after (plus the longest other fault the injector may
    # be busy with: MinIO back after 8 s, an API server restart) met an operator SIGKILL; a
    # quicker one may have met none.
    unkilled = [
        t.name
        for t in trials
        if t.faults["operator SIGKILL"] == 0 and t.ended - t.started > t.kill_after + BUSY_FAULT
    ]
    assert unkilled == [], f"trials that never met an operator SIGKILL: {unkilled}"
    assert faults.counts["operator SIGKILL"] > 0


def _ratio(passed: list[Trial], trials: list[Trial], which: Any) -> str:
    return f"{sum(1 for t in passed if which(t))}/{sum(1 for t in trials if which(t))}"


def settled_check(trial: Trial, api: Cluster_, store: ObjectStore, pipeline_dir: Path) -> list[str]:
    """The invariants once the trial has settled: asked again for up to 30 s while a fault
    may still hold a server or the last write of a move is under way (a duplicate or a lost
    version does not go away by waiting)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            found = check(trial, api, store, pipeline_dir)
        except Exception as exc:
            found = [f"{trial.name}: could not be checked ({type(exc).__name__}: {exc})"]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(2)


def new_data_policy(trial: Trial, settings: S3Settings) -> dict[str, Any]:
    return {
        "apiVersion": constants.API_VERSION,
        "kind": constants.RETRAIN_POLICY_KIND,
        "metadata": {"name": trial.name},
        "spec": {
            "modelRef": {"name": trial.name},
            "triggers": {
                "newData": {
                    "prefix": f"s3://{settings.bucket}/incoming/{trial.name}/",
                    "minRows": 30,
                }
            },
        },
    }

"""Scale: 1,000 MLModels + 1,000 DriftMonitors + 1,000 RetrainPolicies on one operator.

Against the real kube-apiserver (and MinIO, so every model queues a training run behind
PACE_MAX_TRAINING_RUNS=1; the one run admitted is a long search that holds the slot, so the
queue is still during the idle window). Figures, printed and written to
tests/bench/results/scale.json:

- the raw apply rate of the same 3,000 objects with no operator running (the API server's
  own speed, the baseline);
- with the operator: time from the first apply until every object has status, and p50/p99
  of (first status seen - that object's apply returned), both from one watch per kind;
- the operator's RSS and CPU at steady state (from /proc of its process);
- the API requests per second the operator makes when nothing changes: the API server's own
  ``apiserver_request_total`` (non-watch verbs on PACE's kinds and events) over an idle
  window, minus the same window's count without the operator.

Targets (issue 10): status within 60 s, p99 <= 2 s after the apply (read both ways: each
object's own apply to its first status, and the whole apply's end to the 99th percentile of
first statuses), idle <= 1 request per object per minute, RSS <= 300 MB. Not asserted (figures
only). Also recorded, to tell where the time goes: the requests of the first wave by verb and
response code, the events posted by reason, the lag by kind and by tenth of the apply, and the
CPU each process used until every object had status (the operator, this bench's own apply
threads and watches, etcd, the API server, the controller manager, a training run).
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from pace.adapters.object_store import S3Settings
from pace.api import constants
from pace.localstack import processes
from pace.localstack.minio import MinioInfo
from tests.bench import results
from tests.e2e.test_train_and_register import operator_env
from tests.servers.kube_apiserver import Cluster

N = int(os.environ.get("PACE_BENCH_SCALE_N", "1000"))
IDLE_WINDOW = 60.0
SETTLE_MAX = 180.0
STATUS_MAX = 240.0  # with the settle and idle windows, inside the test's 600 s timeout
KINDS = (
    (constants.MLMODEL_PLURAL, constants.MLMODEL_KIND),
    (constants.DRIFT_MONITOR_PLURAL, constants.DRIFT_MONITOR_KIND),
    (constants.RETRAIN_POLICY_PLURAL, constants.RETRAIN_POLICY_KIND),
)


def _objects(i: int) -> list[tuple[str, dict[str, Any]]]:
    name = f"m{i:04d}"
    model = {
        "apiVersion": constants.API_VERSION,
        "kind": constants.MLMODEL_KIND,
        "metadata": {"name": name},
        "spec": {
            "task": "classification",
            "dataset": {"uri": "sklearn://iris", "target": "target"},
            # A search long enough to hold the one training slot for the whole bench: the
            # queue stays still, so the idle window really has nothing to do.
            "training": {
                "algorithm": "random_forest",
                "search": {
                    "strategy": "random",
                    "trials": 1000,
                    # 240 points x 5 folds: minutes, longer than the bench.
                    "space": {
                        "n_estimators": [100, 200, 300, 400, 500],
                        "max_depth": [3, 5, 8, None],
                        "min_samples_leaf": [1, 2, 4, 8],
                        "max_features": ["sqrt", "log2", None],
                    },
                },
            },
        },
    }
    monitor = {
        "apiVersion": constants.API_VERSION,
        "kind": constants.DRIFT_MONITOR_KIND,
        "metadata": {"name": name},
        "spec": {"modelRef": {"name": name}, "interval": "30s"},
    }
    policy = {
        "apiVersion": constants.API_VERSION,
        "kind": constants.RETRAIN_POLICY_KIND,
        "metadata": {"name": name},
        "spec": {
            "modelRef": {"name": name},
            "triggers": {"drift": {"monitorRef": {"name": name}, "consecutiveChecks": 2}},
            "cooldown": "10m",
        },
    }
    return [
        (constants.MLMODEL_PLURAL, model),
        (constants.DRIFT_MONITOR_PLURAL, monitor),
        (constants.RETRAIN_POLICY_PLURAL, policy),
    ]


def _apply_all(
    cluster: Cluster, namespace: str
) -> tuple[float, float, dict[tuple[str, str], float]]:
    """Create every object from 8 threads; (start, end, per-object apply time)."""
    api = kubernetes.client.CustomObjectsApi(cluster.client)
    applied: dict[tuple[str, str], float] = {}

    def create(item: tuple[str, dict[str, Any]]) -> None:
        plural, body = item
        api.create_namespaced_custom_object(
            constants.GROUP, constants.VERSION, namespace, plural, body
        )
        applied[(plural, body["metadata"]["name"])] = time.monotonic()

    items = [item for i in range(N) for item in _objects(i)]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, items))
    return started, time.monotonic(), applied


def _apiserver_metrics(cluster: Cluster) -> str:
    return str(
        cluster.client.call_api(
            "/metrics",
            "GET",
            response_type="str",
            _return_http_data_only=True,
            auth_settings=["BearerToken"],
        )
    )


def _apiserver_cpu(cluster: Cluster) -> float:
    """CPU seconds the API server process has used (its own ``process_cpu_seconds_total``)."""
    for line in _apiserver_metrics(cluster).splitlines():
        if line.startswith("process_cpu_seconds_total "):
            return float(line.split()[1])
    return 0.0


def _machine_busy() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, wall seconds) from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / ticks, time.monotonic()


def _cpu_by_process(operator_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far, summed by process: the operator and this bench
    (its apply threads and watches) by pid, every other process by its command name (etcd,
    kube-apiserver, kube-controller-manager, ...; children that ended are not counted)."""
    ticks = os.sysconf("SC_CLK_TCK")
    names = {operator_pid: "operator", os.getpid(): "bench"}
    found: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        pid = int(stat.parent.name)
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        name = names.get(pid, comm)
        found[name] = found.get(name, 0.0) + (float(fields[11]) + float(fields[12])) / ticks
    return found


def _apiserver_latency(cluster: Cluster) -> dict[str, float]:
    """Seconds the API server spent on PACE's kinds and on events, summed, by verb/resource
    (``apiserver_request_duration_seconds_sum``), and seconds requests waited in its priority
    and fairness queues (``apiserver_flowcontrol_request_wait_duration_seconds_sum``, key
    ``APF wait``): with the request counts, the mean time of each kind of request."""
    sums: dict[str, float] = {}
    for line in _apiserver_metrics(cluster).splitlines():
        labels, _, value = line.rpartition(" ")
        if line.startswith("apiserver_flowcontrol_request_wait_duration_seconds_sum{"):
            sums["APF wait"] = sums.get("APF wait", 0.0) + float(value)
        if not line.startswith("apiserver_request_duration_seconds_sum{"):
            continue
        if 'verb="WATCH"' in labels:
            continue
        if f'group="{constants.GROUP}"' in labels or 'resource="events"' in labels:
            fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            key = f"{fields.get('verb')} {fields.get('resource')}/{fields.get('subresource', '')}"
            sums[key] = sums.get(key, 0.0) + float(value)
    return sums


def _apiserver_requests(cluster: Cluster) -> dict[str, float]:
    """Non-watch requests the API server has served on PACE's kinds and on events, by
    verb/resource/subresource (and the response code, when it is not a success)."""
    text = _apiserver_metrics(cluster)
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels, _, value = line.rpartition(" ")
        if 'verb="WATCH"' in labels:
            continue
        if f'group="{constants.GROUP}"' in labels or 'resource="events"' in labels:
            fields = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            key = f"{fields.get('verb')} {fields.get('resource')}/{fields.get('subresource', '')}"
            code = fields.get("code", "")
            if not code.startswith("2"):
                key += f" {code}"
            counts[key] = counts.get(key, 0.0) + float(value)
    return counts


def _events_by_reason(cluster: Cluster, namespace: str) -> dict[str, int]:
    """Events posted in the namespace, by involved kind and reason (each transition the
    operator announced)."""
    counts: dict[str, int] = {}
    for event in cluster.core.list_namespaced_event(namespace).items:
        key = f"{event.involved_object.kind} {event.reason}"
        counts[key] = counts.get(key, 0) + (event.count or 1)
    return dict(sorted(counts.items()))


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}


class StatusWatch:
    """One watch per kind in a thread: when each object was first seen with status."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._watch, args=(cluster, namespace, plural), daemon=True)
            for plural, _kind in KINDS
        ]
        for thread in self.threads:
            thread.start()

    def _watch(self, cluster: Cluster, namespace: str, plural: str) -> None:
        """Resumes from the last resourceVersion it saw (re-lists only when the API server
        says that version is gone): a watch that re-listed every object at each restart would
        load the API server far more than any real observer does, and slow what it measures."""
        api = kubernetes.client.CustomObjectsApi(
            kubernetes.config.new_client_from_config(config_file=cluster.kubeconfig)
        )
        version: str | None = None
        while not self.stop.is_set():
            watch = kubernetes.watch.Watch()
            try:
                for event in watch.stream(
                    api.list_namespaced_custom_object,
                    constants.GROUP,
                    constants.VERSION,
                    namespace,
                    plural,
                    timeout_seconds=5,
                    resource_version=version,
                    allow_watch_bookmarks=True,
                ):
                    obj = event["object"]
                    version = obj["metadata"].get("resourceVersion") or version
                    if event["type"] == "BOOKMARK":
                        continue
                    status = obj.get("status") or {}
                    key = (plural, obj["metadata"]["name"])
                    if status.get("conditions") and key not in self.seen:
                        self.seen[key] = time.monotonic()
                    if self.stop.is_set():
                        watch.stop()
                        break
            except kubernetes.client.ApiException as exc:
                if exc.status != 410:
                    raise
                version = None  # too old: list again


def _p99_after(seen: dict[tuple[str, str], float], end: float) -> float | None:
    times = sorted(seen.values())
    if not times:
        return None
    return round(max(0.0, times[int(0.99 * (len(times) - 1))] - end), 2)


def _lag_p50_by_kind(
    seen: dict[tuple[str, str], float], applied: dict[tuple[str, str], float]
) -> dict[str, float]:
    by_kind: dict[str, list[float]] = {}
    for key, at in seen.items():
        if key in applied:
            by_kind.setdefault(key[0], []).append(max(0.0, at - applied[key]))
    return {kind: round(statistics.median(lags), 2) for kind, lags in sorted(by_kind.items())}


def _lag_by_decile(
    seen: dict[tuple[str, str], float], applied: dict[tuple[str, str], float]
) -> list[float]:
    """Median first-status lag of each tenth of the objects, in the order they were applied:
    a lag that grows along the apply is a backlog, a flat one is a fixed delay."""
    order = sorted((at, key) for key, at in applied.items() if key in seen)
    tenth = max(1, len(order) // 10)
    return [
        round(statistics.median(seen[key] - at for at, key in order[i : i + tenth]), 2)
        for i in range(0, len(order), tenth)
    ]


def _proc_stats(pid: int) -> tuple[float, float]:
    """(RSS in MB, CPU seconds user+system) of a process."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


@pytest.fixture
def bench_namespaces(kube_cluster: Cluster) -> Iterator[tuple[str, str]]:
    suffix = f"{os.getpid()}-{int(time.time())}"
    names = (f"scale-raw-{suffix}", f"scale-op-{suffix}")
    for name in names:
        kube_cluster.core.create_namespace({"metadata": {"name": name}})
    yield names
    for name in names:
        kube_cluster.core.delete_namespace(name)


def test_scale(
    kube_cluster: Cluster,
    bench_namespaces: tuple[str, str],
    minio_server: MinioInfo,
    s3_settings: S3Settings,
    tmp_path: Path,
) -> None:
    raw_ns, op_ns = bench_namespaces
    total = N * len(KINDS)

    # Baseline: the API server alone.
    raw_start, raw_end, _ = _apply_all(kube_cluster, raw_ns)
    raw_seconds = raw_end - raw_start
    before = _apiserver_requests(kube_cluster)
    time.sleep(IDLE_WINDOW / 4)
    baseline = _delta(_apiserver_requests(kube_cluster), before)
    baseline_rate = sum(baseline.values()) / (IDLE_WINDOW / 4)

    # The operator, as a process of its own, watching the second namespace.
    env = {
        **os.environ,
        **operator_env(kube_cluster, op_ns, minio_server, s3_settings, tmp_path / "p"),
        "KUBECONFIG": kube_cluster.kubeconfig,
        "PACE_WATCH_NAMESPACES": op_ns,
        "PACE_MAX_TRAINING_RUNS": "1",
        "PACE_METRICS_PORT": str(processes.free_port()),
        "PACE_PROBE_PORT": str(processes.free_port()),
        "PACE_BIND_ADDRESS": "127.0.0.1",
    }
    log = (tmp_path / "operator.log").open("wb")
    operator = subprocess.Popen(
        [sys.executable, "-m", "pace"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    watch = StatusWatch(kube_cluster, op_ns)
    try:
        time.sleep(3)  # started and watching (nothing to index yet)
        rss0, cpu0 = _proc_stats(operator.pid)
        wave_before = _apiserver_requests(kube_cluster)
        latency_before = _apiserver_latency(kube_cluster)
        apiserver_cpu0, machine0 = _apiserver_cpu(kube_cluster), _machine_busy()
        processes0 = _cpu_by_process(operator.pid)
        start, end, applied = _apply_all(kube_cluster, op_ns)
        deadline = time.monotonic() + STATUS_MAX
        while len(watch.seen) < total and time.monotonic() < deadline:
            assert operator.poll() is None, (tmp_path / "operator.log").read_text()[-3000:]
            time.sleep(0.5)
        all_status = max(watch.seen.values(), default=end) - start
        lags = sorted(max(0.0, watch.seen[k] - applied[k]) for k in watch.seen if k in applied)
        settled_cpu = _proc_stats(operator.pid)[1]
        apiserver_cpu1, machine1 = _apiserver_cpu(kube_cluster), _machine_busy()
        processes1 = _cpu_by_process(operator.pid)
        wave = _delta(_apiserver_requests(kube_cluster), wave_before)
        wave_latency = _delta(_apiserver_latency(kube_cluster), latency_before)
        wave_events = _events_by_reason(kube_cluster, op_ns)
        # Let the first wave of writes settle: until a 10 s window has fewer requests than the
        # idle target would allow (one per object per minute), at most SETTLE_MAX seconds.
        settle_started = time.monotonic()
        previous = _apiserver_requests(kube_cluster)
        while time.monotonic() - settle_started < SETTLE_MAX:
            time.sleep(10)
            current = _apiserver_requests(kube_cluster)
            if sum(_delta(current, previous).values()) < total / 6:
                break
            previous = current
        settle_seconds = time.monotonic() - settle_started
        rss_idle, cpu_a = _proc_stats(operator.pid)
        requests_a = _apiserver_requests(kube_cluster)
        time.sleep(IDLE_WINDOW)
        rss_end, cpu_b = _proc_stats(operator.pid)
        requests_b = _apiserver_requests(kube_cluster)
    finally:
        watch.stop.set()
        operator.terminate()
        try:
            operator.wait(30)
        except subprocess.TimeoutExpired:
            operator.kill()
        log.close()
        # A run outlives its operator (by design); the bench's own must not outlive the bench
        # and take the CPU of whatever runs next.
        subprocess.run(["pkill", "-f", str(tmp_path / "p" / "runs")], check=False)
    idle = _delta(requests_b, requests_a)
    idle_rate = max(0.0, sum(idle.values()) / IDLE_WINDOW - baseline_rate)
    figures = {
        "objects": total,
        "raw_apply_seconds": round(raw_seconds, 2),
        "raw_apply_per_second": round(total / raw_seconds, 1),
        "operator_apply_seconds": round(end - start, 2),
        "objects_with_status": len(watch.seen),
        "seconds_until_all_have_status": round(all_status, 2),
        "seconds_all_status_after_apply_completed": round(max(0.0, start + all_status - end), 2),
        # The target's other reading: when 99 % of the objects have status, counted from the
        # moment the whole apply completed.
        "seconds_p99_status_after_apply_completed": _p99_after(watch.seen, end),
        "first_status_lag_p50_seconds": round(statistics.median(lags), 3) if lags else None,
        "first_status_lag_p99_seconds": round(lags[int(0.99 * (len(lags) - 1))], 3)
        if lags
        else None,
        "operator_cpu_seconds_to_first_status": round(settled_cpu - cpu0, 1),
        # Who else used the two cores meanwhile: the API server, and the whole machine (also
        # etcd, this bench's watches and the one admitted training run).
        "apiserver_cpu_seconds_to_first_status": round(apiserver_cpu1 - apiserver_cpu0, 1),
        "cpu_seconds_to_first_status_by_process": {
            name: round(used - processes0.get(name, 0.0), 1)
            for name, used in sorted(processes1.items(), key=lambda item: -item[1])
            if used - processes0.get(name, 0.0) >= 0.5
        },
        "machine_busy_cores_to_first_status": round(
            (machine1[0] - machine0[0]) / max(1e-9, machine1[1] - machine0[1]), 2
        ),
        "seconds_to_settle_after_all_have_status": round(settle_seconds, 1),
        "operator_rss_mb_start": round(rss0, 1),
        "operator_rss_mb_idle": round(rss_idle, 1),
        "operator_rss_mb_end": round(rss_end, 1),
        "operator_cpu_percent_idle": round(100 * (cpu_b - cpu_a) / IDLE_WINDOW, 1),
        "idle_requests_per_second": round(idle_rate, 3),
        "idle_requests_per_object_per_minute": round(60 * idle_rate / total, 4),
        "apiserver_baseline_requests_per_second": round(baseline_rate, 3),
        "idle_requests_by_kind": {k: int(v) for k, v in sorted(idle.items())},
        "first_status_lag_p50_by_kind": _lag_p50_by_kind(watch.seen, applied),
        "first_status_lag_p50_by_apply_decile": _lag_by_decile(watch.seen, applied),
        "first_wave_requests_by_kind": {k: int(v) for k, v in sorted(wave.items())},
        "first_wave_events_by_reason": wave_events,
        "first_wave_mean_ms_by_request": {
            k: round(1000 * v / wave[k], 1) for k, v in sorted(wave_latency.items()) if wave.get(k)
        },
        "first_wave_apf_wait_seconds": round(wave_latency.get("APF wait", 0.0), 2),
        "training_limit": 1,
    }
    results.record("scale", figures)
    missing = sorted(set(applied) - set(watch.seen))
    assert not missing, f"{len(missing)} objects never got a status, e.g. {missing[:10]}"

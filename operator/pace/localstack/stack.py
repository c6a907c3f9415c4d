"""`pace local up [--node]|env|status|down`: the whole local stack in the background.

`up` starts the control plane, installs the CRDs, starts the operator and returns when all
are ready, writing a state file; `env` prints shell exports for kubectl; `status` shows what
runs where; `down` stops everything recorded in the state file and leaves no process behind.
State lives in ``$PACE_STATE_DIR`` (default ``~/.local/state/pace``).

With ``--node`` (root), the control plane also hosts a real node (`node`: containerd, runc,
CNI bridge, kubelet, kube-proxy) with the images of `make images` imported, so Pods run (a
`helm install` of the chart, a pipeline step from the pipeline image); MinIO then listens on
the host's address so Pods reach it. `down` stops the node first (its Pods through the API)
and checks that no process, mount, link, chain or cgroup of it is left.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pace.adapters import kube_api
from pace.api import crd_schema
from pace.core import alert_rules
from pace.localstack import (
    alertmanager,
    binaries,
    controlplane,
    images,
    minio,
    node,
    processes,
    prometheus,
    serving,
)

SYSTEM_NAMESPACE = "pace-system"
S3_SECRET = "pace-s3"  # the Secret's name, not a secret
SINK_AUTH_SECRET = "pace-sink-auth"  # the Secret whose key signs the sink's namespace tokens
NODE_DIR = "pace-node"  # under the state dir; also the node's cgroup root's name


class LeftBehindError(RuntimeError):
    """`down` found something of the stack still on the host; the message lists it."""


def state_dir() -> Path:
    """Where the running stack keeps its state, logs and data."""
    return Path(os.environ.get("PACE_STATE_DIR", Path.home() / ".local" / "state" / "pace"))


@dataclass
class StackState:
    """What `up` started; read by `env`, `status` and `down`."""

    kubeconfig: str
    server: str
    workdir: str
    kubectl: str
    processes: dict[str, int] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0
    node: dict[str, Any] | None = None  # node.NodeInfo, when started with --node

    @classmethod
    def load(cls, directory: Path) -> StackState | None:
        path = directory / "state.json"
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, directory: Path) -> None:
        (directory / "state.json").write_text(json.dumps(self.__dict__, indent=2))


SELDON_CRD = (
    Path(__file__).resolve().parents[3]
    / "manifests"
    / "seldon"
    / "seldondeployments.machinelearning.seldon.io.yaml"
)


def install_crds(kubeconfig: str) -> list[str]:
    """Apply PACE's CRDs (rendered from the models, same text as crds/) and the Seldon
    SeldonDeployment CRD fixture (not ours; a cluster gets it from Seldon Core), then wait."""
    client = kube_api.load_client(kubeconfig)
    docs = [yaml.safe_load(text) for text in crd_schema.render_all().values()]
    docs.append(yaml.safe_load(SELDON_CRD.read_text()))
    return kube_api.apply_crds(client, docs)


def start_operator(
    *,
    kubeconfig: str,
    workdir: Path,
    die_with_parent: bool,
    metrics_port: int | None = None,
    env_extra: dict[str, str] | None = None,
) -> tuple[processes.Server, str, str]:
    """Start `python -m pace` against the kubeconfig; return it with its metrics/probe URLs."""
    metrics_port, probe_port = metrics_port or processes.free_port(), processes.free_port()
    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "PACE_METRICS_PORT": str(metrics_port),
        "PACE_PROBE_PORT": str(probe_port),
        "PACE_BIND_ADDRESS": "127.0.0.1",
        **(env_extra or {}),
    }
    server = processes.start(
        "pace-operator",
        [sys.executable, "-m", "pace", "--verbose"],
        log=workdir / "logs" / "operator.log",
        env=env,
        die_with_parent=die_with_parent,
    )
    probe = f"http://127.0.0.1:{probe_port}/healthz"
    processes.wait_until(server, lambda: processes.http_ok(probe), timeout=60, what="healthy")
    return server, f"http://127.0.0.1:{metrics_port}/metrics", probe


def node_images(out: Any) -> list[tuple[Path, str]]:
    """(OCI archive, reference) of each image `make images` recorded; a missing one is
    named (Pods naming it would fail to pull: nothing is pulled on the local node)."""
    record = images.cache_dir() / "images.json"
    known = json.loads(record.read_text()) if record.is_file() else {}
    found = []
    for image in images.IMAGES:
        entry = known.get(image.name)
        if entry and Path(entry["archive"]).is_file():
            found.append((Path(entry["archive"]), entry["reference"]))
        else:
            print(
                f"image {image.name} not built (run `make images`): Pods naming it cannot start",
                file=out,
                flush=True,
            )
    return found


def up(*, with_node: bool = False, out: Any = sys.stdout) -> StackState:
    """Start the stack unless it already runs; return its state. ``with_node``: the
    control plane hosts a real node too (root; see the module docstring)."""
    if with_node:
        node.require_tools()  # before anything starts: a missing piece is named now
    directory = state_dir()
    existing = StackState.load(directory)
    if existing and all(processes.pid_alive(p) for p in existing.processes.values()):
        print(f"local stack already running (state in {directory})", file=out)
        return existing
    if existing:
        down(out=out)
    directory.mkdir(parents=True, exist_ok=True)
    workdir = directory / "run"
    if workdir.exists():
        shutil.rmtree(workdir)
    started = time.monotonic()
    print("starting etcd, kube-apiserver, kube-controller-manager ...", file=out, flush=True)
    hosting = node.hosting() if with_node else None
    info = controlplane.start(workdir, die_with_parent=False, hosting=hosting)
    state = StackState(
        kubeconfig=info.kubeconfig,
        server=info.server,
        workdir=str(workdir),
        kubectl=str(binaries.locate("kubectl")),
        started_at=time.time(),
        processes={
            "kube-controller-manager": info.controller_manager_pid,
            "kube-apiserver": info.apiserver_pid,
            "etcd": info.etcd_pid,
        },
    )
    if info.scheduler_pid:
        state.processes = {"kube-scheduler": info.scheduler_pid, **state.processes}
    state.save(directory)
    try:
        names = install_crds(info.kubeconfig)
        print(f"installed CRDs: {', '.join(names)}", file=out, flush=True)
        print("starting MinIO ...", file=out, flush=True)
        store = minio.start(
            workdir,
            die_with_parent=False,
            address=hosting.host_ip if hosting else "127.0.0.1",
        )
        state.processes = {"minio": store.pid, **state.processes}
        state.save(directory)
        kube = kube_api.KubeApi(kube_api.load_client(info.kubeconfig))
        kube.ensure_namespace(SYSTEM_NAMESPACE)
        kube.apply_secret(
            SYSTEM_NAMESPACE,
            S3_SECRET,
            {"accessKey": store.access_key, "secretKey": store.secret_key},
        )
        kube.apply_secret(SYSTEM_NAMESPACE, SINK_AUTH_SECRET, {"key": secrets.token_hex(32)})
        print("starting the serving runtime and Prometheus ...", file=out, flush=True)
        # The runtime gets no store keys: each predictor reads its model with the Secret its
        # SeldonDeployment names (the operator writes a read-only one per namespace).
        runtime = serving.start_runtime(info.kubeconfig, workdir, die_with_parent=False)
        state.processes = {"serving-runtime": runtime.pid, **state.processes}
        state.save(directory)
        metrics_port, sink_port = processes.free_port(), processes.free_port()
        # PACE's alerting rules (manifests/alerts/) go to an Alertmanager; its webhook
        # receivers are PACE_ALERT_WEBHOOKS (comma-separated URLs), if any.
        webhooks = [u for u in os.environ.get("PACE_ALERT_WEBHOOKS", "").split(",") if u]
        am = alertmanager.start(workdir / "alertmanager", webhooks=webhooks, die_with_parent=False)
        state.processes = {"alertmanager": am.pid, **state.processes}
        state.save(directory)
        rules = workdir / alert_rules.FILE_NAME
        rules.write_text(alert_rules.rules_text())
        prom = prometheus.start(
            workdir / "prometheus",
            {
                "router": runtime.metrics_target,
                alert_rules.OPERATOR_JOB: f"127.0.0.1:{metrics_port}",
            },
            die_with_parent=False,
            rule_files=[rules],
            alertmanager=am.url,
        )
        state.processes = {"prometheus": prom.pid, **state.processes}
        state.save(directory)
        operator, metrics_url, probe_url = start_operator(
            kubeconfig=info.kubeconfig,
            workdir=workdir,
            die_with_parent=False,
            metrics_port=metrics_port,
            env_extra={
                "PACE_S3_ENDPOINT": store.endpoint,
                "PACE_S3_CREDENTIALS_SECRET": f"{SYSTEM_NAMESPACE}/{S3_SECRET}",
                "PACE_PIPELINE_DIR": str(workdir / "pipelines"),
                "PACE_PROMETHEUS_URL": prom.url,
                "PACE_SERVING_GATEWAY": runtime.url,
                "PACE_INFERENCE_SINK_PORT": str(sink_port),
                "PACE_INFERENCE_LOG_URL": f"http://127.0.0.1:{sink_port}/",
                "PACE_INFERENCE_SINK_AUTH_SECRET": f"{SYSTEM_NAMESPACE}/{SINK_AUTH_SECRET}",
            },
        )
        state.processes = {"pace-operator": operator.pid, **state.processes}
        state.urls = {
            "kube-apiserver": info.server,
            "minio": f"http://{store.endpoint}",
            "prometheus": prom.url,
            "alertmanager": am.url,
            "serving-gateway": runtime.url,
            "operator-metrics": metrics_url,
            "operator-probe": probe_url,
            "inference-sink": f"http://127.0.0.1:{sink_port}/",
        }
        state.save(directory)
        if with_node:
            print("starting a node (containerd, kubelet, kube-proxy) ...", file=out, flush=True)
            found = node_images(out)
            node_info = node.start(info, directory / NODE_DIR, images=found, die_with_parent=False)
            state.node = node_info.to_dict()
            state.processes = {
                "kube-proxy": node_info.proxy_pid,
                "kubelet": node_info.kubelet_pid,
                "containerd": node_info.containerd_pid,
                **state.processes,
            }
            state.save(directory)
            imported = ", ".join(ref for _, ref in found) or "none"
            print(f"node {node_info.name} Ready; images imported: {imported}", file=out, flush=True)
    except BaseException:
        down(out=out)
        raise
    print(
        f'local stack ready in {time.monotonic() - started:.1f}s; run: eval "$(pace local env)"',
        file=out,
        flush=True,
    )
    return state


def env_exports(state: StackState) -> str:
    """Shell lines that point kubectl at the stack, the matching kubectl first on PATH."""
    kubectl_dir = str(Path(state.kubectl).parent)
    path = os.environ.get("PATH", "")
    if not path.startswith(kubectl_dir + os.pathsep):
        path = kubectl_dir + os.pathsep + path
    lines = [
        f"export KUBECONFIG={shlex.quote(state.kubeconfig)}",
        f"export PATH={shlex.quote(path)}",
    ]
    minio_url = state.urls.get("minio")
    if minio_url:  # `pace history` reads the audit log; keys come from the Secret, not here
        lines.append(f"export PACE_S3_ENDPOINT={shlex.quote(minio_url.removeprefix('http://'))}")
        lines.append(f"export PACE_S3_CREDENTIALS_SECRET={SYSTEM_NAMESPACE}/{S3_SECRET}")
    return "\n".join(lines) + "\n"


def status_lines(state: StackState | None) -> list[str]:
    """Human-readable status: each process, alive or not, and the URLs."""
    if state is None:
        return ["local stack: not running"]
    lines = [f"local stack started {time.ctime(state.started_at)}; kubeconfig {state.kubeconfig}"]
    for name, pid in state.processes.items():
        lines.append(
            f"  {name:<24} pid {pid:<8} {'running' if processes.pid_alive(pid) else 'STOPPED'}"
        )
    for name, url in state.urls.items():
        lines.append(f"  {name:<24} {url}")
    return lines


def down(*, out: Any = sys.stdout) -> int:
    """Stop every recorded process and remove the state; return how many were stopped.

    Raises:
        LeftBehindError: a process, or a mount, link, chain or cgroup of the node, is still
            there afterwards (named); the state file is kept so `down` can be run again.
    """
    directory = state_dir()
    state = StackState.load(directory)
    if state is None:
        print("local stack: not running", file=out)
        return 0
    stopped = 0
    left: dict[str, list[str]] = {}
    if state.node is not None:  # first: its Pods are deleted through the API server
        node_info = node.NodeInfo(**state.node)
        node.stop(node_info)
        stopped += 3
        print(f"stopped node {node_info.name} (containerd, kubelet, kube-proxy)", file=out)
        left = {k: v for k, v in node.leftovers(Path(node_info.root)).items() if v}
        if not left:
            shutil.rmtree(node_info.root, ignore_errors=True)
    for name, pid in state.processes.items():
        if processes.pid_alive(pid):
            processes.stop(pid)
            stopped += 1
            print(f"stopped {name} (pid {pid})", file=out, flush=True)
    alive = [
        f"{name} (pid {pid})" for name, pid in state.processes.items() if processes.pid_alive(pid)
    ]
    if alive:
        left["processes"] = [*left.get("processes", []), *alive]
    if left:
        details = "; ".join(f"{kind}: {', '.join(items)}" for kind, items in left.items())
        raise LeftBehindError(f"left behind on the host: {details}")
    (directory / "state.json").unlink(missing_ok=True)
    return stopped

"""`pace local up|env|status|down`: the whole local stack in the background.

`up` starts the control plane, installs the CRDs, starts the operator and returns when all
are ready, writing a state file; `env` prints shell exports for kubectl; `status` shows what
runs where; `down` stops everything recorded in the state file and leaves no process behind.
State lives in ``$PACE_STATE_DIR`` (default ``~/.local/state/pace``).
"""

from __future__ import annotations

import json
import os
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
from pace.localstack import binaries, controlplane, minio, processes, prometheus, serving

SYSTEM_NAMESPACE = "pace-system"
S3_SECRET = "pace-s3"  # the Secret's name, not a secret


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


def up(*, out: Any = sys.stdout) -> StackState:
    """Start the stack unless it already runs; return its state."""
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
    info = controlplane.start(workdir, die_with_parent=False)
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
    state.save(directory)
    try:
        names = install_crds(info.kubeconfig)
        print(f"installed CRDs: {', '.join(names)}", file=out, flush=True)
        print("starting MinIO ...", file=out, flush=True)
        store = minio.start(workdir, die_with_parent=False)
        state.processes = {"minio": store.pid, **state.processes}
        state.save(directory)
        kube = kube_api.KubeApi(kube_api.load_client(info.kubeconfig))
        kube.ensure_namespace(SYSTEM_NAMESPACE)
        kube.apply_secret(
            SYSTEM_NAMESPACE,
            S3_SECRET,
            {"accessKey": store.access_key, "secretKey": store.secret_key},
        )
        print("starting the serving runtime and Prometheus ...", file=out, flush=True)
        s3_env = {
            "PACE_S3_ENDPOINT": store.endpoint,
            "AWS_ACCESS_KEY_ID": store.access_key,
            "AWS_SECRET_ACCESS_KEY": store.secret_key,
        }
        runtime = serving.start_runtime(info.kubeconfig, s3_env, workdir, die_with_parent=False)
        state.processes = {"serving-runtime": runtime.pid, **state.processes}
        state.save(directory)
        metrics_port, sink_port = processes.free_port(), processes.free_port()
        prom = prometheus.start(
            workdir / "prometheus",
            {"router": runtime.metrics_target, "operator": f"127.0.0.1:{metrics_port}"},
            die_with_parent=False,
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
            },
        )
        state.processes = {"pace-operator": operator.pid, **state.processes}
        state.urls = {
            "kube-apiserver": info.server,
            "minio": f"http://{store.endpoint}",
            "prometheus": prom.url,
            "serving-gateway": runtime.url,
            "operator-metrics": metrics_url,
            "operator-probe": probe_url,
            "inference-sink": f"http://127.0.0.1:{sink_port}/",
        }
        state.save(directory)
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
    """Stop every recorded process and remove the state; return how many were stopped."""
    directory = state_dir()
    state = StackState.load(directory)
    if state is None:
        print("local stack: not running", file=out)
        return 0
    stopped = 0
    for name, pid in state.processes.items():
        if processes.pid_alive(pid):
            processes.stop(pid)
            stopped += 1
            print(f"stopped {name} (pid {pid})", file=out, flush=True)
    (directory / "state.json").unlink(missing_ok=True)
    return stopped

"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager.

Started like controller-runtime's envtest (free ports, throw-away certificates, a temporary
etcd data dir), plus kube-controller-manager with the garbage-collector and namespace
controllers so owner references and namespace deletion behave as in a cluster. There is no
kubelet: pods never run, and nothing in PACE's local loop needs them. With `NodeHosting` it
is started as a cluster's instead, to host a real node (`pace.localstack.node`): reachable
from Pods on the host's address, Node authorization, every controller, a scheduler.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import ssl
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from pace.localstack import binaries, certs, processes

SERVICE_CIDR = "10.0.0.0/24"


@dataclass(frozen=True)
class NodeHosting:
    """What a control plane needs to host a real node (`pace.localstack.node`): an address
    Pods reach the API server at (the ``kubernetes`` Service's endpoint), the node's pod
    network, and the CA key kept to sign the node's certificates."""

    host_ip: str
    cluster_cidr: str
    pod_gateway: str


@dataclass
class ControlPlaneInfo:
    """Where the control plane runs; serialisable into the stack's state file."""

    kubeconfig: str
    server: str
    etcd_pid: int
    apiserver_pid: int
    controller_manager_pid: int
    workdir: str
    scheduler_pid: int | None = None  # only when hosting a node

    def pids(self) -> list[int]:
        """Stop order: scheduler, controller-manager, apiserver, etcd."""
        first = [self.scheduler_pid] if self.scheduler_pid else []
        return [*first, self.controller_manager_pid, self.apiserver_pid, self.etcd_pid]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def kubeconfig_text(
    *, server: str, ca: Path, cert: Path, key: Path, context: str = "pace-local"
) -> str:
    """A kubeconfig with the CA and a client certificate embedded."""

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "clusters": [
            {
                "name": context,
                "cluster": {"server": server, "certificate-authority-data": b64(ca)},
            }
        ],
        "users": [
            {
                "name": context,
                "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
            }
        ],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": context, "namespace": "default"},
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def _client_context(pki: certs.Pki) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
    return context


def _apiserver_flags(pki: certs.Pki, hosting: NodeHosting | None) -> list[str]:
    """envtest's flags, or, hosting a node, a cluster's: reachable from Pods, Node
    authorization, service accounts and endpoints managed, kubelet client credentials."""
    if hosting is None:
        return [
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount",
            "--endpoint-reconciler-type=none",
        ]
    directory = pki.ca_cert.parent
    return [
        "--bind-address=0.0.0.0",
        f"--advertise-address={hosting.host_ip}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--kubelet-client-certificate={directory / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={directory / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki.ca_cert}",
        "--kubelet-preferred-address-types=InternalIP",
    ]


def _controller_flags(pki: certs.Pki, hosting: NodeHosting | None, workdir: Path) -> list[str]:
    if hosting is None:
        return ["--controllers=garbage-collector-controller,namespace-controller"]
    return [
        "--controllers=*",
        f"--root-ca-file={pki.ca_cert}",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--cluster-cidr={hosting.cluster_cidr}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allocate-node-cidrs=false",
        f"--flex-volume-plugin-dir={workdir / 'flexvolume'}",
    ]


def start(
    workdir: Path,
    *,
    die_with_parent: bool = True,
    timeout: float = 120.0,
    hosting: NodeHosting | None = None,
) -> ControlPlaneInfo:
    """Start etcd, kube-apiserver and kube-controller-manager (and, hosting a node,
    kube-scheduler); return when ready.

    Raises:
        binaries.BinaryMissingError: a binary is missing (names it and how to build it).
        processes.ServerStartError: a server failed to start (quotes its log).
    """
    etcd_bin = binaries.locate("etcd")
    apiserver_bin = binaries.locate("kube-apiserver")
    kcm_bin = binaries.locate("kube-controller-manager")
    workdir.mkdir(parents=True, exist_ok=True)
    extra_ips = (hosting.host_ip, hosting.pod_gateway) if hosting else ()
    pki = certs.generate(workdir / "pki", extra_ips=extra_ips, keep_ca_key=hosting is not None)
    if hosting is not None:
        certs.load_issuer(pki.ca_cert.parent).write_leaf(
            pki.ca_cert.parent,
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            "system:masters",
        )
    logs = workdir / "logs"
    started: list[processes.Server] = []
    try:
        etcd_port, peer_port = processes.free_port(), processes.free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = processes.start(
            "etcd",
            [
                str(etcd_bin),
                "--name=default",
                f"--data-dir={workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            log=logs / "etcd.log",
            die_with_parent=die_with_parent,
        )
        started.append(etcd)
        processes.wait_until(
            etcd,
            lambda: processes.http_ok(f"{etcd_url}/health", expect="true"),
            timeout=timeout,
            what="healthy",
        )

        secure_port = processes.free_port()
        server = f"https://127.0.0.1:{secure_port}"
        apiserver = processes.start(
            "kube-apiserver",
            [
                str(apiserver_bin),
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={workdir / 'pki'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--secure-port={secure_port}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--allow-privileged=true",
                *_apiserver_flags(pki, hosting),
                "--v=1",
            ],
            log=logs / "kube-apiserver.log",
            die_with_parent=die_with_parent,
        )
        started.append(apiserver)
        context = _client_context(pki)
        processes.wait_until(
            apiserver,
            lambda: processes.http_ok(f"{server}/readyz", context=context),
            timeout=timeout,
            what="ready",
        )

        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(
            kubeconfig_text(server=server, ca=pki.ca_cert, cert=pki.admin_cert, key=pki.admin_key)
        )
        kubeconfig.chmod(0o600)
        kcm = processes.start(
            "kube-controller-manager",
            [
                str(kcm_bin),
                f"--kubeconfig={kubeconfig}",
                *_controller_flags(pki, hosting, workdir),
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={processes.free_port()}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--v=1",
            ],
            log=logs / "kube-controller-manager.log",
            die_with_parent=die_with_parent,
        )
        started.append(kcm)
        scheduler = None
        if hosting is not None:
            scheduler = processes.start(
                "kube-scheduler",
                [
                    str(binaries.locate("kube-scheduler")),
                    f"--kubeconfig={kubeconfig}",
                    f"--authentication-kubeconfig={kubeconfig}",
                    f"--authorization-kubeconfig={kubeconfig}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={processes.free_port()}",
                    "--v=1",
                ],
                log=logs / "kube-scheduler.log",
                die_with_parent=die_with_parent,
            )
            started.append(scheduler)
        return ControlPlaneInfo(
            kubeconfig=str(kubeconfig),
            server=server,
            etcd_pid=etcd.pid,
            apiserver_pid=apiserver.pid,
            controller_manager_pid=kcm.pid,
            workdir=str(workdir),
            scheduler_pid=scheduler.pid if scheduler else None,
        )
    except BaseException:
        for srv in reversed(started):
            processes.stop(srv.pid)
        raise


def restart_apiserver(info: ControlPlaneInfo, *, timeout: float = 120.0) -> None:
    """Kill kube-apiserver (SIGKILL: a crash, no graceful shutdown) and start it again with the
    same flags, port and certificates; return when it is ready. ``info`` gets the new pid."""
    with open(f"/proc/{info.apiserver_pid}/cmdline", "rb") as cmdline:
        argv = [a.decode() for a in cmdline.read().split(b"\0") if a]
    with open(f"/proc/{info.apiserver_pid}/environ", "rb") as environ:
        env = dict(
            a.decode(errors="replace").split("=", 1) for a in environ.read().split(b"\0") if a
        )
    with contextlib.suppress(ProcessLookupError):
        os.killpg(info.apiserver_pid, signal.SIGKILL)
    processes.stop(info.apiserver_pid, grace=1.0)  # reaps it
    logs = Path(info.workdir) / "logs"
    apiserver = processes.start("kube-apiserver", argv, log=logs / "kube-apiserver.log", env=env)
    pki = certs.Pki.at(Path(info.workdir) / "pki")
    context = _client_context(pki)
    processes.wait_until(
        apiserver,
        lambda: processes.http_ok(f"{info.server}/readyz", context=context),
        timeout=timeout,
        what="ready again",
    )
    info.apiserver_pid = apiserver.pid


def stop(info: ControlPlaneInfo) -> None:
    """Stop every control-plane process (no stray process is left)."""
    for pid in info.pids():
        processes.stop(pid)

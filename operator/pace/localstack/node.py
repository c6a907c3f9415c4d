"""A real Kubernetes node joined to the local control plane: containerd, runc and the CNI
plugins from Debian's packages, and the kubelet and kube-proxy built with the control plane.

`start` needs a control plane started with `controlplane.NodeHosting` (reachable from Pods,
Node authorization, a scheduler). It writes the node's configuration (`node_config`), signs
the kubelet's and kube-proxy's certificates with the control plane's CA, starts containerd,
imports the sandbox (pause) image and the images asked for (OCI archives, e.g. from `make
images`: nothing is ever pulled), starts the kubelet and kube-proxy and returns once the Node
is Ready. `stop` removes everything it made: Pods (through the API, so the CNI plugin removes
their veths and rules), kube-proxy's rules, containers, mounts, the bridge, the kubelet's
chains, cgroups, the kernel settings the kubelet changes at start, and the files the kubelet
and containerd write outside the node's directory. One node per host at a time (kube-proxy's
chains and the kubelet's device-plugin socket are global).

Root is required (mounts, network namespaces, iptables, cgroups).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pace.localstack import binaries, certs, controlplane, node_config, processes

NODE_NAME = "pace-node"
BRIDGE = "pace0"
CLUSTER_CIDR = "10.200.0.0/16"
POD_CIDR = "10.200.0.0/24"
POD_GATEWAY = "10.200.0.1"
PACKAGES = ("containerd", "runc", "containernetworking-plugins", "iptables", "conntrack")
SYSCTLS = ("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops")
PAUSE_SOURCE = """// The pod sandbox: sleeps as PID 1, reaps zombies, exits on SIGINT/SIGTERM.
package main

import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tsigs := make(chan os.Signal, 4)
\tsignal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
\tfor s := range sigs {
\t\tif s != syscall.SIGCHLD {
\t\t\tos.Exit(0)
\t\t}
\t\tfor {
\t\t\tvar ws syscall.WaitStatus
\t\t\tif pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
\t\t\t\tbreak
\t\t\t}
\t\t}
\t}
}
"""


class NodeError(RuntimeError):
    """A piece of the node is missing or did not start; the message names it."""


def host_ip() -> str:
    """The host's primary address (the one its default route leaves from)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=False
    ).stdout.split()
    if "src" not in out:
        raise NodeError("no default route: cannot tell the host's address for the node")
    return out[out.index("src") + 1]


def hosting() -> controlplane.NodeHosting:
    return controlplane.NodeHosting(
        host_ip=host_ip(), cluster_cidr=CLUSTER_CIDR, pod_gateway=POD_GATEWAY
    )


def require_tools() -> None:
    """containerd, runc, ctr and the CNI plugins (Debian's packages), iptables; root."""
    if os.geteuid() != 0:
        raise NodeError("a node needs root (mounts, network namespaces, iptables, cgroups)")
    missing = [t for t in ("containerd", "ctr", "runc", "iptables") if shutil.which(t) is None]
    missing += [
        f"{node_config.CNI_BIN_DIR}/{p}"
        for p in ("bridge", "host-local", "loopback", "portmap")
        if not Path(node_config.CNI_BIN_DIR, p).is_file()
    ]
    if missing:
        raise NodeError(
            f"missing: {', '.join(missing)}; run `make system-deps-node` "
            f"(apt-get install {' '.join(PACKAGES)})"
        )


@dataclass
class NodeInfo:
    """A running node; serialisable into the stack's state file."""

    root: str
    name: str
    kubeconfig: str  # the admin kubeconfig of the control plane
    containerd_pid: int
    kubelet_pid: int
    proxy_pid: int
    sysctls: dict[str, str] = field(default_factory=dict)  # as they were before the kubelet

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _kubeconfig(path: Path, *, server: str, ca: Path, cert: Path, key: Path) -> Path:
    path.write_text(
        controlplane.kubeconfig_text(server=server, ca=ca, cert=cert, key=key, context="node")
    )
    path.chmod(0o600)
    return path


def pause_archive(cache: Path) -> Path:
    """The sandbox image as an OCI archive: a static Go program, built once (Go and buildah,
    no `buildah run`, so no network is touched)."""
    archive = cache / "images" / "pace-pause.oci.tar"
    if archive.is_file():
        return archive
    work = cache / "build" / "pause"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text("module pace.dev/pause\n\ngo 1.22\n")
    (work / "main.go").write_text(PAUSE_SOURCE)
    env = {**os.environ, "CGO_ENABLED": "0"}
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "pause", "."],
        cwd=work,
        env=env,
        check=True,
    )
    from pace.localstack import images

    buildah = images.Buildah(images.cache_dir() / "buildah")
    ctr = buildah("from", "--quiet", "scratch", capture=True)
    try:
        buildah("copy", ctr, str(work / "pause"), "/pause")
        buildah("config", "--entrypoint", '["/pause"]', "--user", "65535:65535", ctr)
        buildah("commit", "--quiet", ctr, node_config.PAUSE_IMAGE)
    finally:
        buildah("rm", ctr)
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_suffix(".partial")
    buildah(
        "push", "--quiet", node_config.PAUSE_IMAGE, f"oci-archive:{tmp}:{node_config.PAUSE_IMAGE}"
    )
    tmp.replace(archive)
    return archive


def import_image(socket: Path, archive: Path, name: str, *, attempts: int = 3) -> None:
    """Import an OCI archive into containerd's Kubernetes namespace under ``name``.

    The image is imported under the name its index annotates (``org.opencontainers.image.
    ref.name``), then tagged ``name`` if that differs. Not with ``--index-name``: that makes
    the image's target the archive's index, a blob ctr does not keep, and the import then
    fails with "content digest <the index's digest>: not found" (seen importing the pipeline
    image into a fresh containerd, once, then at every try). Any other "not found" is tried
    again, up to ``attempts`` times."""
    base = ["ctr", "-a", str(socket), "-n", "k8s.io", "images"]
    why = ""
    for attempt in range(1, attempts + 1):
        done = subprocess.run(
            [*base, "import", str(archive)], capture_output=True, text=True, check=False
        )
        if done.returncode == 0:
            named = archive_names(archive)
            if named and name not in named:
                subprocess.run(
                    [*base, "tag", "--force", named[0], name],
                    capture_output=True,
                    text=True,
                    check=True,
                )
            return
        why = done.stderr.strip()
        if "not found" not in why or attempt == attempts:
            break
        time.sleep(1.0)
    raise NodeError(f"ctr images import {archive} ({attempt} attempt(s)): {why}")


def archive_names(archive: Path) -> list[str]:
    """The image names an OCI archive's index annotates (what ``ctr images import`` names
    the images it imports)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        index = json.loads(member.read()) if member is not None else {}
    return [
        m["annotations"]["org.opencontainers.image.ref.name"]
        for m in index.get("manifests", [])
        if "org.opencontainers.image.ref.name" in (m.get("annotations") or {})
    ]


def _wait(check: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, subprocess.SubprocessError):
            pass
        time.sleep(0.2)
    raise NodeError(f"timed out after {timeout:.0f}s waiting for {what}")


def _kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binaries.locate("kubectl")), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "KUBECACHEDIR": str(Path(kubeconfig).parent / "kube-cache")},
    )


def _node_ready(kubeconfig: str, name: str) -> bool:
    done = _kubectl(kubeconfig, "get", "node", name, "-o", "json")
    if done.returncode != 0:
        return False
    conditions = json.loads(done.stdout)["status"].get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def start(
    plane: controlplane.ControlPlaneInfo,
    root: Path,
    *,
    images: Sequence[tuple[Path, str]] = (),
    die_with_parent: bool = True,
    timeout: float = 120.0,
) -> NodeInfo:
    """Start containerd, the kubelet and kube-proxy for ``plane``; return once Ready.

    ``images``: (OCI archive, image name) pairs imported before the kubelet starts."""
    require_tools()
    ip = host_ip()
    root.mkdir(parents=True, exist_ok=True)
    layout = node_config.NodeLayout(
        root=root,
        name=NODE_NAME,
        host_ip=ip,
        pod_cidr=POD_CIDR,
        pod_gateway=POD_GATEWAY,
        cluster_cidr=CLUSTER_CIDR,
        bridge=BRIDGE,
        kubelet_port=processes.free_port(),
        kubelet_healthz_port=processes.free_port(),
        proxy_metrics_port=processes.free_port(),
        proxy_healthz_port=processes.free_port(),
    )
    plane_pki = Path(plane.workdir) / "pki"
    pki = layout.pki
    pki.mkdir(parents=True, exist_ok=True)
    shutil.copy(plane_pki / "ca.crt", pki / "ca.crt")
    issuer = certs.load_issuer(plane_pki)
    kubelet_cert, kubelet_key = issuer.write_leaf(
        pki, "kubelet-client", f"system:node:{NODE_NAME}", "system:nodes"
    )
    issuer.write_leaf(
        pki,
        "kubelet-serving",
        NODE_NAME,
        server=True,
        dns=(NODE_NAME, "localhost"),
        ips=("127.0.0.1", ip, POD_GATEWAY),
    )
    proxy_cert, proxy_key = issuer.write_leaf(pki, "kube-proxy", "system:kube-proxy")
    kubelet_kubeconfig = _kubeconfig(
        root / "kubelet.kubeconfig",
        server=plane.server,
        ca=pki / "ca.crt",
        cert=kubelet_cert,
        key=kubelet_key,
    )
    proxy_kubeconfig = _kubeconfig(
        root / "kube-proxy.kubeconfig",
        server=plane.server,
        ca=pki / "ca.crt",
        cert=proxy_cert,
        key=proxy_key,
    )
    (root / "containerd").mkdir(exist_ok=True)
    (root / "containerd" / "config.toml").write_text(node_config.containerd_config(layout))
    layout.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    (layout.cni_conf_dir / f"10-{BRIDGE}.conflist").write_text(node_config.cni_conflist(layout))
    (root / "kubelet-config.yaml").write_text(node_config.kubelet_config(layout))
    (root / "kube-proxy.yaml").write_text(node_config.kube_proxy_config(layout, proxy_kubeconfig))
    for sub in ("kubelet", "pod-logs", "logs"):
        (root / sub).mkdir(exist_ok=True)
    logs = root / "logs"
    started: list[processes.Server] = []
    info: NodeInfo | None = None
    try:
        containerd = processes.start(
            "containerd",
            ["containerd", "--config", str(root / "containerd" / "config.toml")],
            log=logs / "containerd.log",
            die_with_parent=die_with_parent,
        )
        started.append(containerd)
        socket = layout.containerd_socket
        processes.wait_until(
            containerd,
            lambda: (
                subprocess.run(
                    ["ctr", "-a", str(socket), "version"], capture_output=True, check=False
                ).returncode
                == 0
            ),
            timeout=timeout,
            what="ready",
        )
        import_image(socket, pause_archive(binaries.cache_dir()), node_config.PAUSE_IMAGE)
        for archive, name in images:
            import_image(socket, archive, name)
        # The kubelet needs its cgroup root in every v1 hierarchy, and changes kernel
        # settings at start: remember them to put them back.
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            if hierarchy.is_dir() and hierarchy.name != "unified":
                (hierarchy / layout.cgroup_root.lstrip("/")).mkdir(exist_ok=True)
        before = {k: Path("/proc/sys", k).read_text().strip() for k in SYSCTLS}
        kubelet = processes.start(
            "kubelet",
            [
                str(binaries.locate("kubelet")),
                f"--config={root / 'kubelet-config.yaml'}",
                f"--kubeconfig={kubelet_kubeconfig}",
                f"--root-dir={root / 'kubelet'}",
                f"--cert-dir={root / 'kubelet' / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={ip}",
                "--v=1",
            ],
            log=logs / "kubelet.log",
            die_with_parent=die_with_parent,
        )
        started.append(kubelet)
        proxy = processes.start(
            "kube-proxy",
            [str(binaries.locate("kube-proxy")), f"--config={root / 'kube-proxy.yaml'}", "--v=1"],
            log=logs / "kube-proxy.log",
            die_with_parent=die_with_parent,
        )
        started.append(proxy)
        info = NodeInfo(
            root=str(root),
            name=NODE_NAME,
            kubeconfig=plane.kubeconfig,
            containerd_pid=containerd.pid,
            kubelet_pid=kubelet.pid,
            proxy_pid=proxy.pid,
            sysctls=before,
        )
        processes.wait_until(
            kubelet,
            lambda: _node_ready(plane.kubeconfig, NODE_NAME),
            timeout=timeout,
            what="its Node Ready",
        )
        processes.wait_until(
            proxy,
            lambda: processes.http_ok(f"http://127.0.0.1:{layout.proxy_healthz_port}/healthz"),
            timeout=timeout,
            what="healthy",
        )
        return info
    except BaseException:
        if info is not None:
            stop(info)
        else:
            for srv in reversed(started):
                processes.stop(srv.pid)
        raise


def _run_quiet(*cmd: str) -> None:
    subprocess.run(list(cmd), capture_output=True, check=False)


def stop(info: NodeInfo) -> None:
    """Stop the node and remove every trace it left on the host (see the module docstring)."""
    root = Path(info.root)
    socket = root / "containerd" / "containerd.sock"
    if processes.pid_alive(info.kubelet_pid):
        _kubectl(
            info.kubeconfig,
            "delete",
            "pods",
            "--all",
            "-A",
            "--grace-period=2",
            "--wait=true",
            "--timeout=60s",
        )
        _kubectl(info.kubeconfig, "delete", "node", info.name, "--wait=false")
    processes.stop(info.proxy_pid, grace=15)
    _run_quiet(str(binaries.locate("kube-proxy")), "--cleanup", "--v=0")
    processes.stop(info.kubelet_pid, grace=15)
    if processes.pid_alive(info.containerd_pid):
        # Whatever the kubelet left: stop and remove the tasks, so their mounts go too.
        listed = subprocess.run(
            ["ctr", "-a", str(socket), "-n", "k8s.io", "tasks", "ls", "-q"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        for task in listed:
            _run_quiet(
                "ctr", "-a", str(socket), "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", task
            )
    processes.stop(info.containerd_pid, grace=15)
    shims = subprocess.run(
        ["pgrep", "-f", f"containerd-shim-runc-v2 .*-address {socket}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    for pid in shims:
        _run_quiet("kill", "-KILL", pid)
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(str(root))
    ]
    for mount in sorted(mounts, reverse=True):
        if subprocess.run(["umount", mount], capture_output=True, check=False).returncode != 0:
            _run_quiet("umount", "-l", mount)
    _run_quiet("ip", "link", "del", BRIDGE)
    _remove_chains()
    cgroup = root.name
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / cgroup
        if top.is_dir():
            for directory in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if directory.is_dir():
                    _run_quiet("rmdir", str(directory))
            _run_quiet("rmdir", str(top))
    for key, value in info.sysctls.items():
        with contextlib.suppress(OSError):
            Path("/proc/sys", key).write_text(value)
    logs = Path("/var/log/containers")
    if logs.is_dir():
        for link in logs.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(str(root)):
                link.unlink()
    Path("/var/lib/kubelet/device-plugins/kubelet.sock").unlink(missing_ok=True)
    results = Path("/var/lib/cni/results")
    if results.is_dir():
        for entry in results.iterdir():
            if entry.name.startswith((f"{BRIDGE}-", "cni-loopback-")):
                entry.unlink()
    for host_dir in (
        "/var/log/containers",
        "/var/lib/kubelet/device-plugins",
        "/var/lib/kubelet",
        "/var/lib/cni/results",
        "/var/lib/cni",
        "/run/containerd/s",
        "/run/containerd",
    ):
        _run_quiet("rmdir", host_dir)
    for sub in ("containerd/root", "containerd/state", "containerd/runc", "kubelet", "cni/ipam"):
        shutil.rmtree(root / sub, ignore_errors=True)


def _remove_chains() -> None:
    """The CNI plugin's NAT rules of our network and the kubelet's own chains."""
    for table_rule in _iptables_save("nat"):
        if f'name: \\"{BRIDGE}\\"' in table_rule and table_rule.startswith("-A POSTROUTING"):
            _run_quiet("sh", "-c", f"iptables -t nat {table_rule.replace('-A', '-D', 1)}")
    for tool in ("iptables", "ip6tables"):
        _run_quiet(tool, "-t", "filter", "-D", "INPUT", "-j", "KUBE-FIREWALL")
        _run_quiet(tool, "-t", "filter", "-D", "OUTPUT", "-j", "KUBE-FIREWALL")
        for table, chain in (
            ("filter", "KUBE-FIREWALL"),
            ("filter", "KUBE-KUBELET-CANARY"),
            ("nat", "KUBE-KUBELET-CANARY"),
            ("mangle", "KUBE-KUBELET-CANARY"),
            ("mangle", "KUBE-IPTABLES-HINT"),
        ):
            _run_quiet(tool, "-t", table, "-F", chain)
            _run_quiet(tool, "-t", table, "-X", chain)
    chains = [r.split()[1] for r in _iptables_save("nat") if r.startswith("-N CNI-")]
    rules = _iptables_save("nat")
    for chain in chains:
        if not any(f"-j {chain}" in r for r in rules):
            _run_quiet("iptables", "-t", "nat", "-F", chain)
            _run_quiet("iptables", "-t", "nat", "-X", chain)


def _iptables_save(table: str) -> list[str]:
    return subprocess.run(
        ["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False
    ).stdout.splitlines()


def leftovers(root: Path) -> dict[str, list[str]]:
    """What of a node is still on the host (empty lists when `stop` left nothing)."""
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(str(root))
    ]
    links = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=False
    ).stdout
    chains = [
        r
        for table in ("filter", "nat", "mangle")
        for r in _iptables_save(table)
        if r.startswith("-N KUBE-") or r.startswith("-N CNI-")
    ]
    cgroups = [
        str(h / root.name) for h in Path("/sys/fs/cgroup").iterdir() if (h / root.name).exists()
    ]
    processes_left = subprocess.run(
        ["pgrep", "-f", str(root)], capture_output=True, text=True, check=False
    ).stdout.split()
    return {
        "processes": processes_left,
        "mounts": mounts,
        "links": [BRIDGE] if f" {BRIDGE}:" in links else [],
        "chains": chains,
        "cgroups": cgroups,
    }
